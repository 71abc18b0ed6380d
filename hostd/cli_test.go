package main_test

import (
	"context"
	"net/http"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hostd/hostd/hostd/api"
	"github.com/hostd/hostd/hostd/hostdtest"
)

// assertSizeError checks a refused SIZE: status 1, InvalidParameterValue, and a message that
// names the flag and the forms a SIZE takes.
func assertSizeError(t *testing.T, flag, stderr string, status int) {
	t.Helper()
	assert.Equal(t, 1, status, "stderr: %s", stderr)
	code, msg := hostdtest.ErrorOf(t, strings.TrimSpace(stderr))
	assert.Equal(t, "InvalidParameterValue", code)
	assert.Contains(t, msg, flag+` "banana"`)
	for _, form := range []string{"512M", "512MiB", "1G", "1GiB", "bytes"} {
		assert.Contains(t, msg, form)
	}
}

// Every SIZE flag, of the client and of the daemon, names itself and the accepted forms.
func TestSizeFlagsNameTheFlag(t *testing.T) {
	d := hostdtest.Start(t)
	for _, c := range []struct {
		flag string
		args []string
	}{
		{"--memory", []string{"instance", "run", "--memory", "banana", "--", "true"}},
		{"--ram", []string{"instance", "run", "--ram", "banana", "--", "true"}},
		{"--size", []string{"volume", "create", "--size", "banana"}},
	} {
		out, errOut, status := d.Run(c.args...)
		assert.Empty(t, out)
		assertSizeError(t, c.flag, errOut, status)
	}
	for _, flag := range []string{"--ram-pool", "--scrub-rate", "--disk-size"} {
		dir := t.TempDir()
		cmd := exec.Command(d.Bin, "serve", "--state-dir", filepath.Join(dir, "state"), "--socket", filepath.Join(dir, "s.sock"), flag, "banana")
		var stderr strings.Builder
		cmd.Stderr = &stderr
		require.Error(t, cmd.Run())
		assertSizeError(t, flag, stderr.String(), cmd.ProcessState.ExitCode())
	}
}

// Well-formed ids of each kind, of nothing.
const (
	anInstance = "i-0123456789abcdef0"
	aVpc       = "vpc-0123456789abcdef0"
	aSubnet    = "subnet-0123456789abcdef0"
	aGroup     = "sg-0123456789abcdef0"
	anACL      = "acl-0123456789abcdef0"
	aVolume    = "vol-0123456789abcdef0"
)

// Every verb checks the ids it is given before it calls the daemon, with EC2's Malformed code of
// the id's kind. No daemon listens on the socket: a verb that called it would answer
// DaemonUnavailable instead.
func TestMalformedIDsRefusedBeforeAnyCall(t *testing.T) {
	bin := hostdtest.Binary(t)
	socket := filepath.Join(t.TempDir(), "nobody.sock")
	const (
		instance = "InvalidInstanceID.Malformed"
		vpc      = "InvalidVpcID.Malformed"
		subnet   = "InvalidSubnetID.Malformed"
		group    = "InvalidGroupId.Malformed"
		acl      = "InvalidNetworkAclID.Malformed"
		volume   = "InvalidVolumeID.Malformed"
	)
	rule := []string{"--protocol", "tcp", "--port", "80", "--cidr", "10.0.0.0/16"}
	cases := []struct {
		code string
		args []string
	}{
		{instance, []string{"instance", "exec", "", "--", "true"}},
		{instance, []string{"instance", "exec", "i-XYZ", "--", "true"}},
		{instance, []string{"instance", "describe", anInstance, "vm-12"}},
		{instance, []string{"instance", "terminate", anInstance, "i-0123"}},
		{instance, []string{"instance", "modify", "i-", "--source-dest-check=false"}},
		{instance, []string{"instance", "set-groups", "bogus", "--sg", aGroup}},
		{group, []string{"instance", "set-groups", anInstance, "--sg", "sg-bogus"}},
		{subnet, []string{"instance", "run", "--subnet", "bogus", "--", "true"}},
		{group, []string{"instance", "run", "--subnet", aSubnet, "--sg", aGroup, "--sg", "", "--", "true"}},
		{volume, []string{"instance", "run", "--volume", "vol-XY:/dev/xvdb", "--", "true"}},
		{vpc, []string{"vpc", "describe", "vpc-"}},
		{vpc, []string{"vpc", "delete", aSubnet}},
		{vpc, []string{"subnet", "create", "--vpc", "bogus", "--cidr", "10.0.1.0/24"}},
		{subnet, []string{"subnet", "describe", aSubnet, "subnet-../../x"}},
		{subnet, []string{"subnet", "delete", ""}},
		{vpc, []string{"sg", "create", "--vpc", "bogus", "--name", "web"}},
		{group, []string{"sg", "describe", "sg-0123456789ABCDEF0"}},
		{group, []string{"sg", "delete", aVpc}},
		{group, []string{"sg", "authorize", "--group", "bogus", "--ingress", "--protocol", "tcp", "--port", "80", "--cidr", "10.0.0.0/16"}},
		{group, append([]string{"sg", "revoke", "--group", "sg-1", "--egress"}, rule...)},
		{group, []string{"sg", "authorize", "--group", aGroup, "--ingress", "--protocol", "tcp", "--port", "80", "--source-group", "web"}},
		{group, []string{"sg", "authorize", "--group", aGroup, "--ingress", "--ip-permissions", `[{"IpProtocol":"tcp","FromPort":80,"ToPort":80,"UserIdGroupPairs":[{"GroupId":"sg-web"}]}]`}},
		{vpc, []string{"nacl", "create", "--vpc", "bogus"}},
		{acl, []string{"nacl", "describe", "acl-"}},
		{acl, append([]string{"nacl", "entry", "--nacl", "bogus", "--rule-number", "100", "--ingress", "--action", "allow"}, rule...)},
		{acl, []string{"nacl", "delete-entry", "--nacl", "bogus", "--rule-number", "100", "--ingress"}},
		{acl, []string{"nacl", "associate", "--nacl", aGroup, "--subnet", aSubnet}},
		{subnet, []string{"nacl", "associate", "--nacl", anACL, "--subnet", "bogus"}},
		{volume, []string{"volume", "describe", "vol-0123"}},
		{volume, []string{"volume", "delete", anInstance}},
		{volume, []string{"volume", "attach", "bogus", "--instance", anInstance}},
		{instance, []string{"volume", "attach", aVolume, "--instance", "bogus"}},
		{volume, []string{"volume", "detach", ""}},
	}
	for _, c := range cases {
		cmd := exec.Command(bin, append([]string{"--socket", socket}, c.args...)...)
		var stdout, stderr strings.Builder
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		_ = cmd.Run()
		assert.Equal(t, 1, cmd.ProcessState.ExitCode(), "%q: %s", c.args, stderr.String())
		assert.Empty(t, stdout.String())
		code, msg := hostdtest.ErrorOf(t, strings.TrimSpace(stderr.String()))
		assert.Equal(t, c.code, code, "%q: %s", c.args, msg)
	}
}

// The daemon checks ids again with the same table, and answers a path or a method it has no
// route for with an EC2 error document too, never Go's plain-text 404.
func TestDaemonAnswersBadRequestsWithJSON(t *testing.T) {
	d := hostdtest.Start(t)
	c := api.NewClient(d.Socket)
	ctx := context.Background()
	for path, code := range map[string]string{
		"/v1/instances?InstanceId=vm-12":         "InvalidInstanceID.Malformed",
		"/v1/vpcs?VpcId=bogus":                   "InvalidVpcID.Malformed",
		"/v1/subnets?SubnetId=bogus":             "InvalidSubnetID.Malformed",
		"/v1/security-groups?GroupId=bogus":      "InvalidGroupId.Malformed",
		"/v1/network-acls?NetworkAclId=bogus":    "InvalidNetworkAclID.Malformed",
		"/v1/volumes?VolumeId=bogus":             "InvalidVolumeID.Malformed",
		"/v1/instances?InstanceId=" + anInstance: "InvalidInstanceID.NotFound",
		"/v1/volumes?VolumeId=" + aVolume:        "InvalidVolume.NotFound",
		"/v1/network-acls?NetworkAclId=" + anACL: "InvalidNetworkAclID.NotFound",
		"/v1/security-groups?GroupId=" + aGroup:  "InvalidGroup.NotFound",
		"/v1/subnets?SubnetId=" + aSubnet:        "InvalidSubnetID.NotFound",
		"/v1/vpcs?VpcId=" + aVpc:                 "InvalidVpcID.NotFound",
	} {
		err := c.Call(ctx, http.MethodGet, path, nil, nil)
		assert.Equal(t, code, api.AsError(err).Code, path)
	}
	for _, r := range []struct{ method, path, says string }{
		{http.MethodGet, "/v1/nothing", "GET /v1/nothing is not an action"},
		{http.MethodPost, "/v1/instances//exec", "is not an action"},
		{http.MethodDelete, "/v1/instances/" + anInstance, "is not an action"},
		{http.MethodPut, "/v1/pool", "that path takes GET"},
		{http.MethodGet, "/v1/volumes/" + aVolume + "/detach", "that path takes POST"},
	} {
		err := c.Call(ctx, r.method, r.path, nil, nil)
		e := api.AsError(err)
		assert.Equal(t, "InvalidAction", e.Code, "%s %s: %v", r.method, r.path, err)
		assert.Contains(t, e.Message, r.says)
	}
}

// tableOf runs a command with -o table and checks what every table promises: the columns
// expected, one row per resource, no line wider than 100 characters and nothing nested. It
// returns the rows' cells, split at runs of spaces.
func tableOutput(t *testing.T, d *hostdtest.Daemon, columns string, rows int, args ...string) [][]string {
	t.Helper()
	out, errOut, status := d.Run(append([]string{"-o", "table"}, args...)...)
	require.Equal(t, 0, status, "%q: %s", args, errOut)
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	assert.Equal(t, strings.Fields(columns), strings.Fields(lines[0]), "%q", args)
	assert.Len(t, lines, rows+1, "%q:\n%s", args, out)
	var cells [][]string
	for _, l := range lines {
		assert.LessOrEqual(t, utf8.RuneCountInString(l), 100, "%q: %q", args, l)
		assert.NotContains(t, l, "{", "%q: nested: %q", args, l)
		assert.NotContains(t, l, "[", "%q: nested: %q", args, l)
		cells = append(cells, regexp.MustCompile(`\s{2,}`).Split(l, -1))
	}
	return cells[1:]
}

// Every resource's table has the columns a person wants and fits a terminal, with real
// resources of every kind, long names among them.
func TestTablesPerResource(t *testing.T) {
	d := hostdtest.Start(t)
	var vpc struct{ VpcId string }
	d.JSON(&vpc, "vpc", "create", "--cidr", "10.0.0.0/16", "--name", "tenant-a-production-vpc-with-a-name-far-longer-than-any-column")
	var subnet struct{ SubnetId string }
	d.JSON(&subnet, "subnet", "create", "--vpc", vpc.VpcId, "--cidr", "10.0.1.0/24")
	var web, db struct{ GroupId string }
	d.JSON(&web, "sg", "create", "--vpc", vpc.VpcId, "--name", "web-frontend-tier-for-the-public-site", "--description", "the public web servers, reachable on 80 and 443 from anywhere in the world")
	d.JSON(&db, "sg", "create", "--vpc", vpc.VpcId, "--name", "db")
	rules := tableOutput(t, d, "SecurityGroupRuleId GroupId Direction Protocol Ports Peer", 1,
		"sg", "authorize", "--group", db.GroupId, "--ingress", "--protocol", "tcp", "--port", "5432", "--source-group", web.GroupId)
	assert.Equal(t, []string{db.GroupId, "ingress", "tcp", "5432", web.GroupId}, rules[0][1:])
	tableOutput(t, d, "SecurityGroupRuleId GroupId Direction Protocol Ports Peer", 1,
		"sg", "authorize", "--group", web.GroupId, "--ingress", "--protocol", "icmp", "--port", "8", "--cidr", "10.0.0.0/16")
	var acl struct{ NetworkAclId string }
	d.JSON(&acl, "nacl", "create", "--vpc", vpc.VpcId)
	d.JSON(&struct{}{}, "nacl", "entry", "--nacl", acl.NetworkAclId, "--rule-number", "100", "--ingress", "--action", "allow", "--protocol", "all", "--cidr", "0.0.0.0/0")
	d.JSON(&struct{}{}, "nacl", "associate", "--nacl", acl.NetworkAclId, "--subnet", subnet.SubnetId)
	var vol struct{ VolumeId string }
	d.JSON(&vol, "volume", "create", "--size", "16M")

	run := tableOutput(t, d, "InstanceId MacAddress PrivateIpAddress State", 1,
		"instance", "run", "--subnet", subnet.SubnetId, "--sg", web.GroupId, "--sg", db.GroupId, "--memory", "64M", "--volume", vol.VolumeId+":/dev/xvdb", "--", "sleep", "1000")
	id := run[0][0]
	d.Launch("--", "true") // no subnet: empty cells

	instances := tableOutput(t, d, "InstanceId State PrivateIp SubnetId Groups Memory Age", 2, "instance", "describe")
	assert.Equal(t, []string{id, "running", "10.0.1.4", subnet.SubnetId}, instances[0][:4])
	assert.True(t, strings.HasPrefix(instances[0][4], "web-frontend"), instances[0][4])
	assert.Equal(t, "64MiB", instances[0][5])
	assert.Equal(t, []string{"-", "-", "-"}, instances[1][2:5], "an instance without an interface")

	vpcs := tableOutput(t, d, "VpcId CidrBlock State Name", 1, "vpc", "describe")
	assert.Equal(t, []string{vpc.VpcId, "10.0.0.0/16"}, vpcs[0][:2])
	assert.True(t, strings.HasSuffix(vpcs[0][3], "…"), "a long name is cut: %q", vpcs[0][3])
	subnets := tableOutput(t, d, "SubnetId VpcId CidrBlock FreeIps State", 1, "subnet", "describe")
	assert.Equal(t, []string{subnet.SubnetId, vpc.VpcId, "10.0.1.0/24", "250"}, subnets[0][:4])
	groups := tableOutput(t, d, "GroupId VpcId Inbound Outbound Name Description", 3, "sg", "describe")
	for _, g := range groups {
		if g[0] == db.GroupId {
			assert.Equal(t, []string{"1", "1", "db", "db"}, g[2:])
		}
	}
	acls := tableOutput(t, d, "NetworkAclId VpcId Default Inbound Outbound Subnets", 2, "nacl", "describe")
	for _, a := range acls {
		if a[0] == acl.NetworkAclId {
			assert.Equal(t, []string{vpc.VpcId, "no", "1", "0", subnet.SubnetId}, a[1:])
		}
	}
	volumes := tableOutput(t, d, "VolumeId Size State InstanceId Device", 1, "volume", "describe")
	assert.Equal(t, []string{vol.VolumeId, "16MiB", "in-use", id, "/dev/xvdb"}, volumes[0])
	pool := tableOutput(t, d, "Pool Total InUse Free Dirty Zeroed Scrub", 2, "pool", "describe")
	assert.Equal(t, []string{"RamPool", "1GiB", "16MiB"}, pool[0][:3])
	assert.Equal(t, []string{"DiskStore", "16GiB", "16MiB"}, pool[1][:3])

	gone := tableOutput(t, d, "InstanceId CurrentState PreviousState", 1, "instance", "terminate", id)
	assert.Equal(t, []string{id, "terminated", "running"}, gone[0])
}
