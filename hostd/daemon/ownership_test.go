package daemon

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hostd/hostd/firewall"
	"github.com/hostd/hostd/hostd/api"
	"github.com/hostd/hostd/hostd/hostdtest"
	"github.com/hostd/hostd/hostd/state"
)

// openTestDaemon opens a real daemon (fabric, datapath, pools) in a directory of its own and
// tears it down after the test.
func openTestDaemon(t *testing.T, name string) (*Daemon, Config) {
	t.Helper()
	hostdtest.RequireRoot(t)
	dir, err := os.MkdirTemp("/var/tmp", "hostd-"+name+"-")
	require.NoError(t, err)
	require.NoError(t, os.Chmod(dir, 0o755)) // instances' inits, unprivileged, run from below it
	cfg := Config{
		StateDir: filepath.Join(dir, "state"), Socket: filepath.Join(dir, "hostd.sock"), Fabric: fmt.Sprintf("%s%d", name, os.Getpid()),
		InitPath: hostdtest.Binary(t), Log: slog.New(slog.DiscardHandler), RAMPoolBytes: 16 << 20, DiskSize: 64 << 20,
	}
	d, err := Open(cfg)
	require.NoError(t, err)
	t.Cleanup(func() {
		d.Close()
		assert.NoError(t, Teardown(cfg))
		os.RemoveAll(dir)
	})
	return d, cfg
}

// tenantWorld is what one account makes: a VPC of 10.0.0.0/16 (the same CIDR for every account),
// a subnet, a group, an ACL, a volume and an instance.
type tenantWorld struct {
	vpc, subnet, group, acl, volume, instance string
}

func makeTenantWorld(t *testing.T, d *Daemon, c api.Caller) tenantWorld {
	t.Helper()
	var w tenantWorld
	vpc, err := d.CreateVpc(c, api.CreateVpcRequest{CidrBlock: "10.0.0.0/16"})
	require.NoError(t, err)
	w.vpc = vpc.VpcId
	s, err := d.CreateSubnet(c, api.CreateSubnetRequest{VpcId: w.vpc, CidrBlock: "10.0.1.0/24"})
	require.NoError(t, err)
	w.subnet = s.SubnetId
	g, err := d.CreateSecurityGroup(c, api.CreateSecurityGroupRequest{VpcId: w.vpc, GroupName: "web"})
	require.NoError(t, err)
	w.group = g.GroupId
	a, err := d.CreateNetworkAcl(c, api.CreateNetworkAclRequest{VpcId: w.vpc})
	require.NoError(t, err)
	w.acl = a.NetworkAclId
	v, err := d.CreateVolume(c, api.CreateVolumeRequest{Size: 1 << 20})
	require.NoError(t, err)
	w.volume = v.VolumeId
	none := int64(0)
	in, err := d.RunInstance(c, api.RunInstanceRequest{Command: []string{"sleep", "1000"}, SubnetId: w.subnet, SecurityGroupIds: []string{w.group}, RamBytes: &none})
	require.NoError(t, err)
	w.instance = in.InstanceId
	t.Cleanup(func() { _, _ = d.TerminateInstances(api.Operator, []string{w.instance}) })
	return w
}

// Two accounts make the same world with the same CIDRs. Each sees only its own in every describe;
// every verb, and every reference, that names the other's id answers exactly as for an id that
// does not exist; the operator sees both, and records written before accounts are the operator's.
func TestAnotherAccountsIDsAnswerAsMissing(t *testing.T) {
	d, _ := openTestDaemon(t, "own")
	alice := api.Caller{AccountID: "111111111111", UserName: "alice"}
	bob := api.Caller{AccountID: "222222222222", UserName: "bob"}
	a, b := makeTenantWorld(t, d, alice), makeTenantWorld(t, d, bob)

	// Describe all: each its own.
	for _, tc := range []struct {
		c    api.Caller
		mine tenantWorld
	}{{alice, a}, {bob, b}} {
		vpcs, err := d.DescribeVpcs(tc.c, nil)
		require.NoError(t, err)
		require.Len(t, vpcs.Vpcs, 1)
		assert.Equal(t, tc.mine.vpc, vpcs.Vpcs[0].VpcId)
		assert.Equal(t, tc.c.AccountID, vpcs.Vpcs[0].OwnerId)
		subnets, err := d.DescribeSubnets(tc.c, nil)
		require.NoError(t, err)
		require.Len(t, subnets.Subnets, 1)
		assert.Equal(t, tc.mine.subnet, subnets.Subnets[0].SubnetId)
		groups, err := d.DescribeSecurityGroups(tc.c, nil)
		require.NoError(t, err)
		assert.Len(t, groups.SecurityGroups, 2, "its group and its VPC's default group")
		for _, g := range groups.SecurityGroups {
			assert.Equal(t, tc.mine.vpc, g.VpcId)
		}
		acls, err := d.DescribeNetworkAcls(tc.c, nil)
		require.NoError(t, err)
		assert.Len(t, acls.NetworkAcls, 2, "its ACL and its VPC's default ACL")
		vols, err := d.DescribeVolumes(tc.c, nil)
		require.NoError(t, err)
		require.Len(t, vols.Volumes, 1)
		assert.Equal(t, tc.mine.volume, vols.Volumes[0].VolumeId)
		ins, err := d.DescribeInstances(tc.c, nil)
		require.NoError(t, err)
		require.Len(t, ins.Instances, 1)
		assert.Equal(t, tc.mine.instance, ins.Instances[0].InstanceId)
		assert.Equal(t, "10.0.1.4", ins.Instances[0].PrivateIpAddress, "the same address in both accounts' VPCs")
	}
	vpcs, err := d.DescribeVpcs(api.Operator, nil)
	require.NoError(t, err)
	assert.Len(t, vpcs.Vpcs, 2, "the operator sees both accounts")
	ins, err := d.DescribeInstances(api.Operator, nil)
	require.NoError(t, err)
	assert.Len(t, ins.Instances, 2)

	// Every verb of bob's on alice's ids, against the same verb on an id that does not exist.
	tcp := func(group, source string) api.SecurityGroupRulesRequest {
		from, to := 80, 80
		perm := firewall.IpPermission{IpProtocol: "tcp", FromPort: &from, ToPort: &to}
		if source != "" {
			perm.UserIdGroupPairs = []firewall.UserIdGroupPair{{GroupId: source}}
		} else {
			perm.IpRanges = []firewall.IpRange{{CidrIp: "0.0.0.0/0"}}
		}
		return api.SecurityGroupRulesRequest{GroupId: group, IpPermissions: []firewall.IpPermission{perm}}
	}
	// modify names bob's own outbound rule: only the group (or the peer) is alice's.
	bobRules, err := d.DescribeSecurityGroupRules(bob, []string{b.group})
	require.NoError(t, err)
	modify := func(group, source string) api.ModifySecurityGroupRulesRequest {
		return api.ModifySecurityGroupRulesRequest{GroupId: group, SecurityGroupRules: []api.SecurityGroupRuleUpdate{
			{SecurityGroupRuleId: bobRules.SecurityGroupRules[0].SecurityGroupRuleId, IpPermission: tcp(group, source).IpPermissions[0]}}}
	}
	none := int64(0)
	sleep := []string{"sleep", "1"}
	verbs := []struct {
		name   string
		prefix string
		other  string
		call   func(id string) error
	}{
		{"vpc describe", "vpc-", a.vpc, func(id string) error { _, err := d.DescribeVpcs(bob, []string{id}); return err }},
		{"vpc delete", "vpc-", a.vpc, func(id string) error { _, err := d.DeleteVpc(bob, id); return err }},
		{"subnet create --vpc", "vpc-", a.vpc, func(id string) error {
			_, err := d.CreateSubnet(bob, api.CreateSubnetRequest{VpcId: id, CidrBlock: "10.0.9.0/24"})
			return err
		}},
		{"sg create --vpc", "vpc-", a.vpc, func(id string) error {
			_, err := d.CreateSecurityGroup(bob, api.CreateSecurityGroupRequest{VpcId: id, GroupName: "x"})
			return err
		}},
		{"nacl create --vpc", "vpc-", a.vpc, func(id string) error {
			_, err := d.CreateNetworkAcl(bob, api.CreateNetworkAclRequest{VpcId: id})
			return err
		}},
		{"subnet describe", "subnet-", a.subnet, func(id string) error { _, err := d.DescribeSubnets(bob, []string{id}); return err }},
		{"subnet delete", "subnet-", a.subnet, func(id string) error { _, err := d.DeleteSubnet(bob, id); return err }},
		{"instance run --subnet", "subnet-", a.subnet, func(id string) error {
			_, err := d.RunInstance(bob, api.RunInstanceRequest{Command: sleep, SubnetId: id, RamBytes: &none})
			return err
		}},
		{"nacl associate --subnet", "subnet-", a.subnet, func(id string) error {
			_, err := d.AssociateNetworkAcl(bob, api.AssociateNetworkAclRequest{NetworkAclId: b.acl, SubnetId: id})
			return err
		}},
		{"sg describe", "sg-", a.group, func(id string) error { _, err := d.DescribeSecurityGroups(bob, []string{id}); return err }},
		{"sg delete", "sg-", a.group, func(id string) error { _, err := d.DeleteSecurityGroup(bob, id); return err }},
		{"sg authorize", "sg-", a.group, func(id string) error { _, err := d.AuthorizeSecurityGroup(bob, tcp(id, "")); return err }},
		{"sg revoke", "sg-", a.group, func(id string) error { _, err := d.RevokeSecurityGroup(bob, tcp(id, "")); return err }},
		{"sg modify", "sg-", a.group, func(id string) error { _, err := d.ModifySecurityGroupRules(bob, modify(id, "")); return err }},
		{"sg modify --source-group", "sg-", a.group, func(id string) error {
			_, err := d.ModifySecurityGroupRules(bob, modify(b.group, id))
			return err
		}},
		{"sg authorize --source-group", "sg-", a.group, func(id string) error {
			_, err := d.AuthorizeSecurityGroup(bob, tcp(b.group, id))
			return err
		}},
		{"instance run --sg", "sg-", a.group, func(id string) error {
			_, err := d.RunInstance(bob, api.RunInstanceRequest{Command: sleep, SubnetId: b.subnet, SecurityGroupIds: []string{id}, RamBytes: &none})
			return err
		}},
		{"instance set-groups --sg", "sg-", a.group, func(id string) error {
			_, err := d.SetGroups(bob, b.instance, api.SetGroupsRequest{Groups: []string{id}})
			return err
		}},
		{"nacl describe", "acl-", a.acl, func(id string) error { _, err := d.DescribeNetworkAcls(bob, []string{id}); return err }},
		{"nacl entry", "acl-", a.acl, func(id string) error {
			_, err := d.CreateNetworkAclEntry(bob, api.NetworkAclEntryRequest{NetworkAclId: id, NetworkAclEntry: api.NetworkAclEntry{RuleNumber: 10, Protocol: "-1", RuleAction: "allow", CidrBlock: "0.0.0.0/0"}})
			return err
		}},
		{"nacl delete-entry", "acl-", a.acl, func(id string) error {
			_, err := d.DeleteNetworkAclEntry(bob, api.NetworkAclEntryRequest{NetworkAclId: id, NetworkAclEntry: api.NetworkAclEntry{RuleNumber: 10}})
			return err
		}},
		{"nacl associate --nacl", "acl-", a.acl, func(id string) error {
			_, err := d.AssociateNetworkAcl(bob, api.AssociateNetworkAclRequest{NetworkAclId: id, SubnetId: b.subnet})
			return err
		}},
		{"instance describe", "i-", a.instance, func(id string) error { _, err := d.DescribeInstances(bob, []string{id}); return err }},
		{"instance terminate", "i-", a.instance, func(id string) error { _, err := d.TerminateInstances(bob, []string{id}); return err }},
		{"instance modify", "i-", a.instance, func(id string) error {
			off := false
			_, err := d.ModifyInstance(bob, id, api.ModifyInstanceRequest{SourceDestCheck: &off})
			return err
		}},
		{"instance set-groups", "i-", a.instance, func(id string) error {
			_, err := d.SetGroups(bob, id, api.SetGroupsRequest{Groups: []string{b.group}})
			return err
		}},
		{"instance exec", "i-", a.instance, func(id string) error { _, err := d.ExecTarget(bob, id); return err }},
		{"volume attach --instance", "i-", a.instance, func(id string) error {
			_, err := d.AttachVolume(bob, b.volume, api.AttachVolumeRequest{InstanceId: id})
			return err
		}},
		{"volume describe", "vol-", a.volume, func(id string) error { _, err := d.DescribeVolumes(bob, []string{id}); return err }},
		{"volume delete", "vol-", a.volume, func(id string) error { _, err := d.DeleteVolume(bob, id); return err }},
		{"volume attach", "vol-", a.volume, func(id string) error {
			_, err := d.AttachVolume(bob, id, api.AttachVolumeRequest{InstanceId: b.instance})
			return err
		}},
		{"volume detach", "vol-", a.volume, func(id string) error { _, err := d.DetachVolume(bob, id); return err }},
		{"instance run --volume", "vol-", a.volume, func(id string) error {
			_, err := d.RunInstance(bob, api.RunInstanceRequest{Command: sleep, Volumes: []api.VolumeMapping{{VolumeId: id, Device: "/dev/xvdb"}}, RamBytes: &none})
			return err
		}},
	}
	for _, v := range verbs {
		missing := newID(v.prefix)
		errOther, errMissing := api.AsError(v.call(v.other)), api.AsError(v.call(missing))
		require.NotNil(t, errOther, "%s on another account's %s succeeded", v.name, v.other)
		assert.True(t, strings.HasSuffix(errOther.Code, ".NotFound"), "%s: %s", v.name, errOther)
		assert.Equal(t, errMissing.Code, errOther.Code, v.name)
		assert.Equal(t, strings.ReplaceAll(errMissing.Message, missing, v.other), errOther.Message, v.name)
	}

	// Nothing of alice's changed.
	ins, err = d.DescribeInstances(alice, []string{a.instance})
	require.NoError(t, err)
	assert.Equal(t, "running", ins.Instances[0].State)
	vols, err := d.DescribeVolumes(alice, []string{a.volume})
	require.NoError(t, err)
	assert.Empty(t, vols.Volumes[0].Attachments)

	// The operator acting for one account cannot tie in the other's resources, and is told why.
	_, err = d.RunInstance(api.Caller{Operator: true, AccountID: bob.AccountID}, api.RunInstanceRequest{Command: sleep, SubnetId: a.subnet, RamBytes: &none})
	assert.Equal(t, api.CodeInvalidParameterValue, api.AsError(err).Code)
	assert.Contains(t, api.AsError(err).Message, "--account "+alice.AccountID)
	_, err = d.AttachVolume(api.Operator, b.volume, api.AttachVolumeRequest{InstanceId: a.instance})
	assert.Equal(t, api.CodeInvalidParameterValue, api.AsError(err).Code)
}

// Records from before accounts have no owner: they are the operator's account's.
func TestRecordsWithoutOwnerAreTheOperators(t *testing.T) {
	for _, r := range []owned{&state.VPC{}, &state.Subnet{}, &state.SecurityGroup{}, &state.NetworkACL{}, &state.Volume{}, &instance{rec: &state.Instance{}}} {
		assert.Equal(t, api.OperatorAccount, r.Owner())
		assert.True(t, api.Operator.Sees(r.Owner()))
		assert.False(t, api.Caller{AccountID: "111111111111"}.Sees(r.Owner()))
	}
}
