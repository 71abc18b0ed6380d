package ec2api

import (
	"context"

	"github.com/hostd/hostd/hostd/api"
	"github.com/hostd/hostd/hostd/daemon"
)

// DaemonCore is Core over a daemon in this process. The operations that already take a caller
// get the one in ctx; the older ones act as the operator until they take one too (issue 12).
type DaemonCore struct{ D *daemon.Daemon }

var _ Core = DaemonCore{}

func (a DaemonCore) CreateVpc(_ context.Context, req api.CreateVpcRequest) (api.Vpc, error) {
	return a.D.CreateVpc(req)
}

func (a DaemonCore) DescribeVpcs(_ context.Context, ids []string) (api.DescribeVpcsResponse, error) {
	return a.D.DescribeVpcs(ids)
}

func (a DaemonCore) DeleteVpc(_ context.Context, id string) (api.ReturnResponse, error) {
	return a.D.DeleteVpc(id)
}

func (a DaemonCore) CreateSubnet(_ context.Context, req api.CreateSubnetRequest) (api.Subnet, error) {
	return a.D.CreateSubnet(req)
}

func (a DaemonCore) DescribeSubnets(_ context.Context, ids []string) (api.DescribeSubnetsResponse, error) {
	return a.D.DescribeSubnets(ids)
}

func (a DaemonCore) DeleteSubnet(_ context.Context, id string) (api.ReturnResponse, error) {
	return a.D.DeleteSubnet(id)
}

func (a DaemonCore) CreateSecurityGroup(_ context.Context, req api.CreateSecurityGroupRequest) (api.CreateSecurityGroupResponse, error) {
	return a.D.CreateSecurityGroup(req)
}

func (a DaemonCore) DescribeSecurityGroups(_ context.Context, ids []string) (api.DescribeSecurityGroupsResponse, error) {
	return a.D.DescribeSecurityGroups(ids)
}

func (a DaemonCore) DeleteSecurityGroup(_ context.Context, id string) (api.ReturnResponse, error) {
	return a.D.DeleteSecurityGroup(id)
}

func (a DaemonCore) AuthorizeSecurityGroup(_ context.Context, req api.SecurityGroupRulesRequest) (api.AuthorizeSecurityGroupResponse, error) {
	return a.D.AuthorizeSecurityGroup(req)
}

func (a DaemonCore) RevokeSecurityGroup(_ context.Context, req api.SecurityGroupRulesRequest) (api.ReturnResponse, error) {
	return a.D.RevokeSecurityGroup(req)
}

func (a DaemonCore) DescribeSecurityGroupRules(ctx context.Context, groupIDs []string) (api.DescribeSecurityGroupRulesResponse, error) {
	return a.D.DescribeSecurityGroupRules(CallerFrom(ctx), groupIDs)
}

func (a DaemonCore) CreateNetworkAcl(_ context.Context, req api.CreateNetworkAclRequest) (api.CreateNetworkAclResponse, error) {
	return a.D.CreateNetworkAcl(req)
}

func (a DaemonCore) DescribeNetworkAcls(_ context.Context, ids []string) (api.DescribeNetworkAclsResponse, error) {
	return a.D.DescribeNetworkAcls(ids)
}

func (a DaemonCore) DeleteNetworkAcl(ctx context.Context, id string) (api.ReturnResponse, error) {
	return a.D.DeleteNetworkAcl(CallerFrom(ctx), id)
}

func (a DaemonCore) CreateNetworkAclEntry(_ context.Context, req api.NetworkAclEntryRequest) (api.ReturnResponse, error) {
	return a.D.CreateNetworkAclEntry(req)
}

func (a DaemonCore) ReplaceNetworkAclEntry(ctx context.Context, req api.NetworkAclEntryRequest) (api.ReturnResponse, error) {
	return a.D.ReplaceNetworkAclEntry(CallerFrom(ctx), req)
}

func (a DaemonCore) DeleteNetworkAclEntry(_ context.Context, req api.NetworkAclEntryRequest) (api.ReturnResponse, error) {
	return a.D.DeleteNetworkAclEntry(req)
}

func (a DaemonCore) AssociateNetworkAcl(_ context.Context, req api.AssociateNetworkAclRequest) (api.ReturnResponse, error) {
	return a.D.AssociateNetworkAcl(req)
}

func (a DaemonCore) RunInstances(ctx context.Context, req api.RunInstancesRequest) (api.Reservation, error) {
	return a.D.RunInstances(CallerFrom(ctx), req)
}

func (a DaemonCore) DescribeInstances(_ context.Context, ids []string) (api.DescribeInstancesResponse, error) {
	return a.D.DescribeInstances(ids)
}

func (a DaemonCore) TerminateInstances(_ context.Context, ids []string) (api.TerminateInstancesResponse, error) {
	return a.D.TerminateInstances(ids)
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

func (a DaemonCore) ModifyInstance(_ context.Context, id string, req api.ModifyInstanceRequest) (api.ReturnResponse, error) {
	return a.D.ModifyInstance(id, req)
}

func (a DaemonCore) SetGroups(_ context.Context, id string, req api.SetGroupsRequest) (api.ReturnResponse, error) {
	return a.D.SetGroups(id, req)
}

func (a DaemonCore) CreateVolume(_ context.Context, req api.CreateVolumeRequest) (api.Volume, error) {
	return a.D.CreateVolume(req)
}

func (a DaemonCore) DescribeVolumes(_ context.Context, ids []string) (api.DescribeVolumesResponse, error) {
	return a.D.DescribeVolumes(ids)
}

func (a DaemonCore) DeleteVolume(_ context.Context, id string) (api.ReturnResponse, error) {
	return a.D.DeleteVolume(id)
}

func (a DaemonCore) AttachVolume(_ context.Context, id string, req api.AttachVolumeRequest) (api.VolumeAttachment, error) {
	return a.D.AttachVolume(id, req)
}

func (a DaemonCore) DetachVolume(_ context.Context, id string) (api.ReturnResponse, error) {
	return a.D.DetachVolume(id)
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
