package ec2api

import (
	"context"
	"crypto/rand"
	"log/slog"

	"github.com/hostd/hostd/hostd/api"
	"github.com/hostd/hostd/hostd/daemon"
	"github.com/hostd/hostd/hostd/ec2query"
)

// NewRouter is the EC2 front end over d, as serve --listen mounts it: each call verified,
// authorised and recorded by d's own hooks (the native API's keys, policies and trail), then
// answered by d's core. endpoint is the listener's URL, as DescribeRegions gives it.
func NewRouter(d *daemon.Daemon, endpoint string, log *slog.Logger) *ec2query.Router {
	router := ec2query.NewRouter(ec2query.Config{
		Region:        d.Region(),
		Authenticator: d.EC2Authenticator(),
		Authorizer:    d.EC2Authorizer(),
		Auditor:       d.EC2Auditor(),
		PageKey:       []byte(rand.Text()), // a restarted daemon's pages start again
		Log:           log,
	})
	Register(router, DaemonCore{D: d}, Options{Endpoint: endpoint})
	return router
}

// DaemonCore is Core over a daemon in this process: every operation acts for the caller in ctx.
type DaemonCore struct{ D *daemon.Daemon }

var _ Core = DaemonCore{}

func (a DaemonCore) CreateVpc(ctx context.Context, req api.CreateVpcRequest) (api.Vpc, error) {
	return a.D.CreateVpc(CallerFrom(ctx), req)
}

func (a DaemonCore) DescribeVpcs(ctx context.Context, ids []string) (api.DescribeVpcsResponse, error) {
	return a.D.DescribeVpcs(CallerFrom(ctx), ids)
}

func (a DaemonCore) DeleteVpc(ctx context.Context, id string) (api.ReturnResponse, error) {
	return a.D.DeleteVpc(CallerFrom(ctx), id)
}

func (a DaemonCore) ModifyVpcAttribute(ctx context.Context, id string, req api.ModifyVpcAttributeRequest) (api.ReturnResponse, error) {
	return a.D.ModifyVpcAttribute(CallerFrom(ctx), id, req)
}

func (a DaemonCore) CreateSubnet(ctx context.Context, req api.CreateSubnetRequest) (api.Subnet, error) {
	return a.D.CreateSubnet(CallerFrom(ctx), req)
}

func (a DaemonCore) DescribeSubnets(ctx context.Context, ids []string) (api.DescribeSubnetsResponse, error) {
	return a.D.DescribeSubnets(CallerFrom(ctx), ids)
}

func (a DaemonCore) DeleteSubnet(ctx context.Context, id string) (api.ReturnResponse, error) {
	return a.D.DeleteSubnet(CallerFrom(ctx), id)
}

func (a DaemonCore) CreateSecurityGroup(ctx context.Context, req api.CreateSecurityGroupRequest) (api.CreateSecurityGroupResponse, error) {
	return a.D.CreateSecurityGroup(CallerFrom(ctx), req)
}

func (a DaemonCore) DescribeSecurityGroups(ctx context.Context, ids []string) (api.DescribeSecurityGroupsResponse, error) {
	return a.D.DescribeSecurityGroups(CallerFrom(ctx), ids)
}

func (a DaemonCore) DeleteSecurityGroup(ctx context.Context, id string) (api.ReturnResponse, error) {
	return a.D.DeleteSecurityGroup(CallerFrom(ctx), id)
}

func (a DaemonCore) AuthorizeSecurityGroup(ctx context.Context, req api.SecurityGroupRulesRequest) (api.AuthorizeSecurityGroupResponse, error) {
	return a.D.AuthorizeSecurityGroup(CallerFrom(ctx), req)
}

func (a DaemonCore) RevokeSecurityGroup(ctx context.Context, req api.SecurityGroupRulesRequest) (api.ReturnResponse, error) {
	return a.D.RevokeSecurityGroup(CallerFrom(ctx), req)
}

func (a DaemonCore) ModifySecurityGroupRules(ctx context.Context, req api.ModifySecurityGroupRulesRequest) (api.ReturnResponse, error) {
	return a.D.ModifySecurityGroupRules(CallerFrom(ctx), req)
}

func (a DaemonCore) DescribeSecurityGroupRules(ctx context.Context, groupIDs []string) (api.DescribeSecurityGroupRulesResponse, error) {
	return a.D.DescribeSecurityGroupRules(CallerFrom(ctx), groupIDs)
}

func (a DaemonCore) CreateNetworkAcl(ctx context.Context, req api.CreateNetworkAclRequest) (api.CreateNetworkAclResponse, error) {
	return a.D.CreateNetworkAcl(CallerFrom(ctx), req)
}

func (a DaemonCore) DescribeNetworkAcls(ctx context.Context, ids []string) (api.DescribeNetworkAclsResponse, error) {
	return a.D.DescribeNetworkAcls(CallerFrom(ctx), ids)
}

func (a DaemonCore) DeleteNetworkAcl(ctx context.Context, id string) (api.ReturnResponse, error) {
	return a.D.DeleteNetworkAcl(CallerFrom(ctx), id)
}

func (a DaemonCore) CreateNetworkAclEntry(ctx context.Context, req api.NetworkAclEntryRequest) (api.ReturnResponse, error) {
	return a.D.CreateNetworkAclEntry(CallerFrom(ctx), req)
}

func (a DaemonCore) ReplaceNetworkAclEntry(ctx context.Context, req api.NetworkAclEntryRequest) (api.ReturnResponse, error) {
	return a.D.ReplaceNetworkAclEntry(CallerFrom(ctx), req)
}

func (a DaemonCore) DeleteNetworkAclEntry(ctx context.Context, req api.NetworkAclEntryRequest) (api.ReturnResponse, error) {
	return a.D.DeleteNetworkAclEntry(CallerFrom(ctx), req)
}

func (a DaemonCore) AssociateNetworkAcl(ctx context.Context, req api.AssociateNetworkAclRequest) (api.ReturnResponse, error) {
	return a.D.AssociateNetworkAcl(CallerFrom(ctx), req)
}

func (a DaemonCore) RunInstances(ctx context.Context, req api.RunInstancesRequest) (api.Reservation, error) {
	return a.D.RunInstances(CallerFrom(ctx), req)
}

func (a DaemonCore) DescribeInstances(ctx context.Context, ids []string) (api.DescribeInstancesResponse, error) {
	return a.D.DescribeInstances(CallerFrom(ctx), ids)
}

func (a DaemonCore) TerminateInstances(ctx context.Context, ids []string) (api.TerminateInstancesResponse, error) {
	return a.D.TerminateInstances(CallerFrom(ctx), ids)
}

func (a DaemonCore) StopInstances(ctx context.Context, ids []string) (api.StopInstancesResponse, error) {
	return a.D.StopInstances(CallerFrom(ctx), ids)
}

func (a DaemonCore) StartInstances(ctx context.Context, ids []string) (api.StartInstancesResponse, error) {
	return a.D.StartInstances(CallerFrom(ctx), ids)
}

func (a DaemonCore) InstanceUserData(ctx context.Context, id string) ([]byte, error) {
	return a.D.InstanceUserData(CallerFrom(ctx), id)
}

func (a DaemonCore) ModifyInstance(ctx context.Context, id string, req api.ModifyInstanceRequest) (api.ReturnResponse, error) {
	return a.D.ModifyInstance(CallerFrom(ctx), id, req)
}

func (a DaemonCore) SetGroups(ctx context.Context, id string, req api.SetGroupsRequest) (api.ReturnResponse, error) {
	return a.D.SetGroups(CallerFrom(ctx), id, req)
}

func (a DaemonCore) CreateVolume(ctx context.Context, req api.CreateVolumeRequest) (api.Volume, error) {
	return a.D.CreateVolume(CallerFrom(ctx), req)
}

func (a DaemonCore) DescribeVolumes(ctx context.Context, ids []string) (api.DescribeVolumesResponse, error) {
	return a.D.DescribeVolumes(CallerFrom(ctx), ids)
}

func (a DaemonCore) DeleteVolume(ctx context.Context, id string) (api.ReturnResponse, error) {
	return a.D.DeleteVolume(CallerFrom(ctx), id)
}

func (a DaemonCore) AttachVolume(ctx context.Context, id string, req api.AttachVolumeRequest) (api.VolumeAttachment, error) {
	return a.D.AttachVolume(CallerFrom(ctx), id, req)
}

func (a DaemonCore) DetachVolume(ctx context.Context, id string) (api.ReturnResponse, error) {
	return a.D.DetachVolume(CallerFrom(ctx), id)
}

func (a DaemonCore) CreateTags(ctx context.Context, req api.CreateTagsRequest) (api.ReturnResponse, error) {
	return a.D.CreateTags(CallerFrom(ctx), req)
}

func (a DaemonCore) DeleteTags(ctx context.Context, req api.DeleteTagsRequest) (api.ReturnResponse, error) {
	return a.D.DeleteTags(CallerFrom(ctx), req)
}

func (a DaemonCore) DescribeTags(ctx context.Context, ids []string) (api.DescribeTagsResponse, error) {
	return a.D.DescribeTags(CallerFrom(ctx), ids)
}
