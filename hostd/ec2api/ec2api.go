// Package ec2api answers EC2's actions with hostd's core: each handler translates an EC2 request
// (decoded by hostd/ec2query) into calls of the core's operations and their answers into EC2's
// output shapes. It holds no state of its own: the native API and this one see the same
// resources and refuse alike, with the same codes ("one core, two front ends", issue 13).
//
// The core is reached through Core, a small interface the daemon satisfies (DaemonCore); the
// daemon package does not import this one. Every call carries the caller that the router's
// Authenticator established, as an api.Caller in the context (CallerFrom), for the core to act
// as that caller.
//
// # What each action calls
//
//	CreateVpc, DescribeVpcs, DeleteVpc     CreateVpc, DescribeVpcs, DeleteVpc; State available,
//	                                       DhcpOptionsId default, one CIDR association.
//	CreateSubnet, DescribeSubnets,         CreateSubnet, …; one zone, REGIONa (REGION-az1).
//	DeleteSubnet, ModifySubnetAttribute    The attributes take EC2's defaults only (no public
//	                                       addresses, no IPv6): true is refused.
//	DescribeRouteTables                    From the VPCs: each has its main table rtb-VPCHEX with
//	                                       the local route; hostd routes nothing else.
//	CreateSecurityGroup, Describe…,        CreateSecurityGroup, …; GroupName.N and group names in
//	DeleteSecurityGroup                    rules resolved by name (in the group's VPC).
//	Authorize/Revoke…Ingress/Egress        AuthorizeSecurityGroup, RevokeSecurityGroup: by
//	                                       IpPermissions, the flat form, or SecurityGroupRuleId.
//	DescribeSecurityGroupRules             DescribeSecurityGroupRules.
//	ModifySecurityGroupRules               ModifySecurityGroupRules: each rule by its id becomes
//	                                       one permission of one peer; PrefixListId refused.
//	CreateNetworkAcl, DescribeNetworkAcls, CreateNetworkAcl, …; a subnet's association id is
//	DeleteNetworkAcl, Create/Replace/      aclassoc-SUBNETHEX (a subnet is under exactly one ACL).
//	DeleteNetworkAclEntry,                 ReplaceNetworkAclAssociation is AssociateNetworkAcl.
//	ReplaceNetworkAclAssociation
//	RunInstances                           RunInstances (MinCount/MaxCount, ClientToken, tags).
//	                                       ImageId must be the host root's (HostImageID);
//	                                       InstanceType from api.InstanceTypes (default
//	                                       t3.micro); UserData a #! script is the workload; one
//	                                       interface (NetworkInterface.1 or SubnetId); KeyName,
//	                                       DisableApiTermination/Stop true, hibernation refused.
//	DescribeInstances                      DescribeInstances; reservations by ReservationId (a
//	                                       natively launched instance is a reservation of its own).
//	Terminate/Stop/StartInstances          TerminateInstances, StopInstances, StartInstances.
//	DescribeInstanceAttribute              From describe; userData from InstanceUserData.
//	ModifyInstanceAttribute                ModifyInstance (SourceDestCheck) and SetGroups (GroupId.N).
//	DescribeInstanceCreditSpecifications   unlimited for t3 types, as EC2's default.
//	DescribeNetworkInterfaces,             The instances' interfaces; a change goes to the
//	ModifyNetworkInterfaceAttribute        instance's ModifyInstance and SetGroups.
//	Create/Describe/Attach/Detach/         CreateVolume (GiB to bytes), …; types gp2, gp3 and
//	DeleteVolume                           standard are labels of the same store.
//	CreateTags, DeleteTags, DescribeTags   CreateTags, DeleteTags, DescribeTags; TagSpecification
//	                                       on create: tagged after, the resource deleted again if
//	                                       the tags cannot be kept.
//	DescribeAvailabilityZones, Regions,    What hostd is: one region and zone, one image
//	Images, InstanceTypes, AccountAttributes, (hostd-host-root), the type table, no default VPC,
//	KeyPairs                               no key pairs.
//
// Not answered yet (InvalidAction): DescribeVpcAttribute and ModifyVpcAttribute (the DNS
// attributes come with issue 14).
package ec2api

import (
	"context"
	"reflect"
	"strings"

	"github.com/hostd/hostd/hostd/api"
	"github.com/hostd/hostd/hostd/ec2query"
)

// Core is what the EC2 front end needs of hostd's core: the daemon's operations, each acting
// for the caller in ctx.
type Core interface {
	CreateVpc(ctx context.Context, req api.CreateVpcRequest) (api.Vpc, error)
	DescribeVpcs(ctx context.Context, ids []string) (api.DescribeVpcsResponse, error)
	DeleteVpc(ctx context.Context, id string) (api.ReturnResponse, error)
	ModifyVpcAttribute(ctx context.Context, id string, req api.ModifyVpcAttributeRequest) (api.ReturnResponse, error)
	CreateSubnet(ctx context.Context, req api.CreateSubnetRequest) (api.Subnet, error)
	DescribeSubnets(ctx context.Context, ids []string) (api.DescribeSubnetsResponse, error)
	DeleteSubnet(ctx context.Context, id string) (api.ReturnResponse, error)

	CreateSecurityGroup(ctx context.Context, req api.CreateSecurityGroupRequest) (api.CreateSecurityGroupResponse, error)
	DescribeSecurityGroups(ctx context.Context, ids []string) (api.DescribeSecurityGroupsResponse, error)
	DeleteSecurityGroup(ctx context.Context, id string) (api.ReturnResponse, error)
	AuthorizeSecurityGroup(ctx context.Context, req api.SecurityGroupRulesRequest) (api.AuthorizeSecurityGroupResponse, error)
	RevokeSecurityGroup(ctx context.Context, req api.SecurityGroupRulesRequest) (api.ReturnResponse, error)
	ModifySecurityGroupRules(ctx context.Context, req api.ModifySecurityGroupRulesRequest) (api.ReturnResponse, error)
	DescribeSecurityGroupRules(ctx context.Context, groupIDs []string) (api.DescribeSecurityGroupRulesResponse, error)

	CreateNetworkAcl(ctx context.Context, req api.CreateNetworkAclRequest) (api.CreateNetworkAclResponse, error)
	DescribeNetworkAcls(ctx context.Context, ids []string) (api.DescribeNetworkAclsResponse, error)
	DeleteNetworkAcl(ctx context.Context, id string) (api.ReturnResponse, error)
	CreateNetworkAclEntry(ctx context.Context, req api.NetworkAclEntryRequest) (api.ReturnResponse, error)
	ReplaceNetworkAclEntry(ctx context.Context, req api.NetworkAclEntryRequest) (api.ReturnResponse, error)
	DeleteNetworkAclEntry(ctx context.Context, req api.NetworkAclEntryRequest) (api.ReturnResponse, error)
	AssociateNetworkAcl(ctx context.Context, req api.AssociateNetworkAclRequest) (api.ReturnResponse, error)

	RunInstances(ctx context.Context, req api.RunInstancesRequest) (api.Reservation, error)
	DescribeInstances(ctx context.Context, ids []string) (api.DescribeInstancesResponse, error)
	TerminateInstances(ctx context.Context, ids []string) (api.TerminateInstancesResponse, error)
	StopInstances(ctx context.Context, ids []string) (api.StopInstancesResponse, error)
	StartInstances(ctx context.Context, ids []string) (api.StartInstancesResponse, error)
	InstanceUserData(ctx context.Context, id string) ([]byte, error)
	ModifyInstance(ctx context.Context, id string, req api.ModifyInstanceRequest) (api.ReturnResponse, error)
	SetGroups(ctx context.Context, id string, req api.SetGroupsRequest) (api.ReturnResponse, error)

	CreateVolume(ctx context.Context, req api.CreateVolumeRequest) (api.Volume, error)
	DescribeVolumes(ctx context.Context, ids []string) (api.DescribeVolumesResponse, error)
	DeleteVolume(ctx context.Context, id string) (api.ReturnResponse, error)
	AttachVolume(ctx context.Context, id string, req api.AttachVolumeRequest) (api.VolumeAttachment, error)
	DetachVolume(ctx context.Context, id string) (api.ReturnResponse, error)

	CreateTags(ctx context.Context, req api.CreateTagsRequest) (api.ReturnResponse, error)
	DeleteTags(ctx context.Context, req api.DeleteTagsRequest) (api.ReturnResponse, error)
	DescribeTags(ctx context.Context, ids []string) (api.DescribeTagsResponse, error)
}

type callerKey struct{}

// WithCaller is ctx carrying the caller of a core call.
func WithCaller(ctx context.Context, c api.Caller) context.Context {
	return context.WithValue(ctx, callerKey{}, c)
}

// CallerFrom is the caller ctx carries. Without one it is nobody: an account no resource has.
func CallerFrom(ctx context.Context) api.Caller {
	c, _ := ctx.Value(callerKey{}).(api.Caller)
	return c
}

// callerOf is the core's caller for an EC2 call: the account, user and key the router's
// Authenticator found.
func callerOf(c ec2query.Caller) api.Caller {
	user := ""
	if i := strings.LastIndex(c.ARN, ":user/"); i >= 0 {
		user = c.ARN[i+len(":user/"):]
	}
	return api.Caller{AccountID: c.AccountID, UserName: user, AccessKeyID: c.AccessKeyID}
}

// Options are what the front end says of the host that the core does not keep.
type Options struct {
	// Endpoint is the listener's URL, as DescribeRegions gives it.
	Endpoint string
	// ImageID is the ami- id of the host's root (HostImageID).
	ImageID string
}

// frontEnd is the handlers' shared view: the core and the options.
type frontEnd struct {
	core Core
	opts Options
}

// Register adds every action the front end answers to r.
func Register(r *ec2query.Router, core Core, opts Options) {
	if opts.ImageID == "" {
		opts.ImageID = HostImageID()
	}
	f := &frontEnd{core: core, opts: opts}
	f.registerNetwork(r)
	f.registerFirewall(r)
	f.registerInstances(r)
	f.registerVolumes(r)
	f.registerTags(r)
	f.registerDiscovery(r)
}

// handle adapts a handler to the router: the caller goes into the context for the core, and the
// ids the request names are the resources the Authorizer is asked about.
func handle[Req, Resp any](r *ec2query.Router, name string, h func(context.Context, *ec2query.Call, *Req) (*Resp, error)) {
	ec2query.Register(r, name, func(ctx context.Context, call *ec2query.Call, req *Req) (*Resp, error) {
		return h(WithCaller(ctx, callerOf(call.Caller)), call, req)
	}, func(req *Req) []ec2query.Resource { return resourcesOf(reflect.ValueOf(req).Elem()) })
}

// resourceFields are the request members that name a resource, with its type in EC2's ARNs.
var resourceFields = map[string]string{
	"VpcId": "vpc", "VpcIds": "vpc", "SubnetId": "subnet", "SubnetIds": "subnet",
	"GroupId": "security-group", "GroupIds": "security-group", "SecurityGroupIds": "security-group",
	"NetworkAclId": "network-acl", "NetworkAclIds": "network-acl",
	"InstanceId": "instance", "InstanceIds": "instance", "VolumeId": "volume", "VolumeIds": "volume",
	"NetworkInterfaceId": "network-interface", "NetworkInterfaceIds": "network-interface",
	"ImageId": "image", "ImageIds": "image", "Resources": "", // CreateTags/DeleteTags: by prefix
}

// resourcesOf lists the resources a request's top-level members name; none means "*".
func resourcesOf(req reflect.Value) []ec2query.Resource {
	var out []ec2query.Resource
	add := func(typ, id string) {
		if id == "" {
			return
		}
		if typ == "" {
			if _, t, ok := api.ResourceKindOf(id); ok {
				typ = t
			} else {
				return
			}
		}
		out = append(out, ec2query.Resource{Type: typ, ID: id})
	}
	for i := range req.NumField() {
		typ, ok := resourceFields[req.Type().Field(i).Name]
		if !ok {
			continue
		}
		switch f := req.Field(i); f.Kind() {
		case reflect.String:
			add(typ, f.String())
		case reflect.Slice:
			if f.Type().Elem().Kind() == reflect.String {
				for j := range f.Len() {
					add(typ, f.Index(j).String())
				}
			}
		}
	}
	return out
}
