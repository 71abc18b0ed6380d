package main_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hostd/hostd/hostd/api"
	"github.com/hostd/hostd/hostd/hostdtest"
)

const allowAll = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}`

// startWithListener starts a daemon with its network listener on a free loopback port.
func startWithListener(t *testing.T, serveArgs ...string) *hostdtest.Daemon {
	return hostdtest.Start(t, append([]string{"--listen", "127.0.0.1:0"}, serveArgs...)...)
}

// as runs the CLI over the network listener with the tenant's key.
func (tn tenant) run(d *hostdtest.Daemon, args ...string) (string, string, int) {
	return d.RunSigned(tn.keyID, tn.secret, args...)
}

// json runs a signed command that must succeed and decodes its output.
func (tn tenant) json(t *testing.T, d *hostdtest.Daemon, v any, args ...string) {
	t.Helper()
	out, errOut, code := tn.run(d, args...)
	require.Equal(t, 0, code, "%s: hostd %v failed: %s", tn.account, args, errOut)
	require.NoError(t, json.Unmarshal([]byte(out), v), "hostd %v printed: %s", args, out)
}

// refused runs a signed command that must fail with code, and returns its message.
func (tn tenant) refused(t *testing.T, d *hostdtest.Daemon, code string, args ...string) string {
	t.Helper()
	out, errOut, status := tn.run(d, args...)
	require.Equal(t, 1, status, "%s: hostd %v: stdout %s stderr %s", tn.account, args, out, errOut)
	got, msg := hostdtest.ErrorOf(t, strings.TrimSpace(errOut))
	require.Equal(t, code, got, "%s: hostd %v: %s", tn.account, args, msg)
	return msg
}

// world is what a tenant makes over the network: the same CIDRs in every account.
type world struct{ vpc, subnet, group, acl, volume, instance string }

func (tn tenant) makeWorld(t *testing.T, d *hostdtest.Daemon) world {
	t.Helper()
	var w world
	var vpc api.Vpc
	tn.json(t, d, &vpc, "vpc", "create", "--cidr", "10.0.0.0/16")
	w.vpc = vpc.VpcId
	var s api.Subnet
	tn.json(t, d, &s, "subnet", "create", "--vpc", w.vpc, "--cidr", "10.0.1.0/24")
	w.subnet = s.SubnetId
	var g api.CreateSecurityGroupResponse
	tn.json(t, d, &g, "sg", "create", "--vpc", w.vpc, "--name", "web")
	w.group = g.GroupId
	var a api.CreateNetworkAclResponse
	tn.json(t, d, &a, "nacl", "create", "--vpc", w.vpc)
	w.acl = a.NetworkAclId
	var v api.Volume
	tn.json(t, d, &v, "volume", "create", "--size", "1M")
	w.volume = v.VolumeId
	var in api.RunInstanceResponse
	tn.json(t, d, &in, "instance", "run", "--subnet", w.subnet, "--sg", w.group, "--ram", "0", "--", "sleep", "1000")
	w.instance = in.InstanceId
	return w
}

// Two accounts, each with a VPC of the same CIDR, a subnet, a group, an ACL, a volume and an
// instance, made and used over the network listener with their own keys: each sees only its
// own; every verb on the other's ids answers NotFound, exactly as for an id that does not exist;
// the operator sees both.
func TestTenantsSeeOnlyTheirOwn(t *testing.T) {
	d := startWithListener(t)
	alice, bob := makeTenant(t, d, "alice", allowAll), makeTenant(t, d, "bob", allowAll)
	a, b := alice.makeWorld(t, d), bob.makeWorld(t, d)

	for _, tc := range []struct {
		tn   tenant
		mine world
	}{{alice, a}, {bob, b}} {
		var ins api.DescribeInstancesResponse
		tc.tn.json(t, d, &ins, "instance", "describe")
		require.Len(t, ins.Instances, 1)
		assert.Equal(t, tc.mine.instance, ins.Instances[0].InstanceId)
		assert.Equal(t, "10.0.1.4", ins.Instances[0].PrivateIpAddress)
		var vpcs api.DescribeVpcsResponse
		tc.tn.json(t, d, &vpcs, "vpc", "describe")
		require.Len(t, vpcs.Vpcs, 1)
		assert.Equal(t, tc.mine.vpc, vpcs.Vpcs[0].VpcId)
		var subnets api.DescribeSubnetsResponse
		tc.tn.json(t, d, &subnets, "subnet", "describe")
		require.Len(t, subnets.Subnets, 1)
		var groups api.DescribeSecurityGroupsResponse
		tc.tn.json(t, d, &groups, "sg", "describe")
		assert.Len(t, groups.SecurityGroups, 2)
		var acls api.DescribeNetworkAclsResponse
		tc.tn.json(t, d, &acls, "nacl", "describe")
		assert.Len(t, acls.NetworkAcls, 2)
		var vols api.DescribeVolumesResponse
		tc.tn.json(t, d, &vols, "volume", "describe")
		require.Len(t, vols.Volumes, 1)
		assert.Equal(t, tc.mine.volume, vols.Volumes[0].VolumeId)
	}
	var all api.DescribeInstancesResponse
	d.JSON(&all, "instance", "describe")
	owners := map[string]string{}
	for _, in := range all.Instances {
		owners[in.InstanceId] = in.OwnerId
	}
	assert.Equal(t, map[string]string{a.instance: alice.account, b.instance: bob.account}, owners, "the operator sees both")

	// Every verb of bob's naming alice's id, and the same verb naming an id nobody has.
	const (
		noVpc, noSubnet, noGroup = "vpc-0123456789abcdef0", "subnet-0123456789abcdef0", "sg-0123456789abcdef0"
		noACL, noInstance, noVol = "acl-0123456789abcdef0", "i-0123456789abcdef0", "vol-0123456789abcdef0"
	)
	port80 := []string{"--protocol", "tcp", "--port", "80"}
	verbs := []struct {
		other, missing string
		args           func(id string) []string
	}{
		{a.vpc, noVpc, func(id string) []string { return []string{"vpc", "describe", id} }},
		{a.vpc, noVpc, func(id string) []string { return []string{"vpc", "delete", id} }},
		{a.vpc, noVpc, func(id string) []string { return []string{"subnet", "create", "--vpc", id, "--cidr", "10.0.9.0/24"} }},
		{a.vpc, noVpc, func(id string) []string { return []string{"sg", "create", "--vpc", id, "--name", "x"} }},
		{a.vpc, noVpc, func(id string) []string { return []string{"nacl", "create", "--vpc", id} }},
		{a.subnet, noSubnet, func(id string) []string { return []string{"subnet", "describe", id} }},
		{a.subnet, noSubnet, func(id string) []string { return []string{"subnet", "delete", id} }},
		{a.subnet, noSubnet, func(id string) []string {
			return []string{"instance", "run", "--subnet", id, "--ram", "0", "--", "true"}
		}},
		{a.subnet, noSubnet, func(id string) []string { return []string{"nacl", "associate", "--nacl", b.acl, "--subnet", id} }},
		{a.group, noGroup, func(id string) []string { return []string{"sg", "describe", id} }},
		{a.group, noGroup, func(id string) []string { return []string{"sg", "delete", id} }},
		{a.group, noGroup, func(id string) []string {
			return append([]string{"sg", "authorize", "--group", id, "--ingress", "--cidr", "0.0.0.0/0"}, port80...)
		}},
		{a.group, noGroup, func(id string) []string {
			return append([]string{"sg", "revoke", "--group", id, "--ingress", "--cidr", "0.0.0.0/0"}, port80...)
		}},
		{a.group, noGroup, func(id string) []string {
			return append([]string{"sg", "modify", "--group", id, "--rule-id", "sgr-0123456789abcdef0", "--cidr", "0.0.0.0/0"}, port80...)
		}},
		{a.group, noGroup, func(id string) []string {
			return append([]string{"sg", "authorize", "--group", b.group, "--ingress", "--source-group", id}, port80...)
		}},
		{a.group, noGroup, func(id string) []string {
			return []string{"instance", "run", "--subnet", b.subnet, "--sg", id, "--ram", "0", "--", "true"}
		}},
		{a.group, noGroup, func(id string) []string { return []string{"instance", "set-groups", b.instance, "--sg", id} }},
		{a.acl, noACL, func(id string) []string { return []string{"nacl", "describe", id} }},
		{a.acl, noACL, func(id string) []string {
			return []string{"nacl", "entry", "--nacl", id, "--rule-number", "10", "--ingress", "--action", "allow", "--protocol", "all", "--cidr", "0.0.0.0/0"}
		}},
		{a.acl, noACL, func(id string) []string {
			return []string{"nacl", "delete-entry", "--nacl", id, "--rule-number", "10", "--ingress"}
		}},
		{a.acl, noACL, func(id string) []string { return []string{"nacl", "associate", "--nacl", id, "--subnet", b.subnet} }},
		{a.instance, noInstance, func(id string) []string { return []string{"instance", "describe", id} }},
		{a.instance, noInstance, func(id string) []string { return []string{"instance", "terminate", id} }},
		{a.instance, noInstance, func(id string) []string { return []string{"instance", "modify", id, "--source-dest-check=false"} }},
		{a.instance, noInstance, func(id string) []string { return []string{"instance", "set-groups", id, "--sg", b.group} }},
		{a.instance, noInstance, func(id string) []string { return []string{"volume", "attach", b.volume, "--instance", id} }},
		{a.volume, noVol, func(id string) []string { return []string{"volume", "describe", id} }},
		{a.volume, noVol, func(id string) []string { return []string{"volume", "delete", id} }},
		{a.volume, noVol, func(id string) []string { return []string{"volume", "attach", id, "--instance", b.instance} }},
		{a.volume, noVol, func(id string) []string { return []string{"volume", "detach", id} }},
		{a.volume, noVol, func(id string) []string {
			return []string{"instance", "run", "--volume", id + ":/dev/xvdb", "--ram", "0", "--", "true"}
		}},
	}
	for _, v := range verbs {
		_, errOther, codeOther := bob.run(d, v.args(v.other)...)
		_, errMissing, codeMissing := bob.run(d, v.args(v.missing)...)
		name := fmt.Sprint(v.args("ID"))
		require.Equal(t, 1, codeOther, "%s on alice's id: %s", name, errOther)
		require.Equal(t, 1, codeMissing, name)
		c1, m1 := hostdtest.ErrorOf(t, strings.TrimSpace(errOther))
		c2, m2 := hostdtest.ErrorOf(t, strings.TrimSpace(errMissing))
		assert.True(t, strings.HasSuffix(c1, ".NotFound"), "%s: %s %s", name, c1, m1)
		assert.Equal(t, c2, c1, name)
		assert.Equal(t, strings.ReplaceAll(m2, v.missing, v.other), m1, name)
	}
	// Every one of those calls is in the trail as bob's, refused as it was answered.
	notFound := 0
	for _, e := range lookup(t, d, "--account", bob.account) {
		assert.Equal(t, bob.keyID, e.UserIdentity.AccessKeyID)
		if strings.HasSuffix(e.ErrorCode, ".NotFound") {
			notFound++
		}
	}
	assert.Equal(t, 2*len(verbs), notFound, "bob's refused calls in the trail")

	// Alice's things are as they were.
	var ins api.DescribeInstancesResponse
	alice.json(t, d, &ins, "instance", "describe", a.instance)
	assert.Equal(t, "running", ins.Instances[0].State)
	for _, w := range []world{a, b} {
		d.JSON(&struct{}{}, "instance", "terminate", w.instance)
	}
}
