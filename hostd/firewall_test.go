package main_test

import (
	"encoding/json"
	"fmt"
	"net"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hostd/hostd/bpf"
	"github.com/hostd/hostd/hostd/api"
	"github.com/hostd/hostd/hostd/hostdtest"
	"github.com/hostd/hostd/hostd/probe"
	"github.com/hostd/hostd/vnet"
)

// End-to-end tests of security groups and network ACLs: real instances, real connections.

func createGroup(t *testing.T, d *hostdtest.Daemon, vpc, name string) string {
	t.Helper()
	var out api.CreateSecurityGroupResponse
	d.JSON(&out, "sg", "create", "--vpc", vpc, "--name", name)
	return out.GroupId
}

func authorize(t *testing.T, d *hostdtest.Daemon, group string, rule ...string) {
	t.Helper()
	d.JSON(&api.AuthorizeSecurityGroupResponse{}, append([]string{"sg", "authorize", "--group", group}, rule...)...)
}

func revoke(t *testing.T, d *hostdtest.Daemon, group string, rule ...string) {
	t.Helper()
	d.JSON(&api.ReturnResponse{}, append([]string{"sg", "revoke", "--group", group}, rule...)...)
}

// connects tells whether from gets a message to port of `to`, and the answer back.
func connects(t *testing.T, d *hostdtest.Daemon, from, to netInstance, proto string, port int) bool {
	t.Helper()
	wait := listen(t, d, to, proto, port)
	_, _, code := d.Exec(from.id, "hostd", "probe", "connect", "--proto", proto, "--addr", fmt.Sprintf("%s:%d", to.ip, port), "--message", "hi", "--timeout", "1s")
	return wait() == "hi" && code == 0
}

func pings(t *testing.T, d *hostdtest.Daemon, from, to netInstance) bool {
	t.Helper()
	_, _, code := d.Exec(from.id, "hostd", "probe", "ping", "--addr", to.ip, "--timeout", "1s")
	return code == 0
}

// tiers is a VPC with a web tier and a database tier, and a stranger in a third subnet.
type tiers struct {
	vpc, webSG, dbSG, otherSG string
	subnets                   []string
	web, db, other            netInstance
}

func newTiers(t *testing.T, d *hostdtest.Daemon, cidr string) tiers {
	var x tiers
	x.vpc, x.subnets = createVpc(t, d, cidr+".0.0/16", cidr+".1.0/24", cidr+".2.0/24", cidr+".3.0/24")
	x.webSG, x.dbSG, x.otherSG = createGroup(t, d, x.vpc, "web"), createGroup(t, d, x.vpc, "db"), createGroup(t, d, x.vpc, "other")
	authorize(t, d, x.dbSG, "--ingress", "--protocol", "tcp", "--port", "5432", "--source-group", x.webSG)
	x.web = launchIn(t, d, x.subnets[0], "--sg", x.webSG)
	x.db = launchIn(t, d, x.subnets[1], "--sg", x.dbSG)
	x.other = launchIn(t, d, x.subnets[2], "--sg", x.otherSG)
	return x
}

func TestSecurityGroupsEndToEnd(t *testing.T) {
	d := hostdtest.Start(t)
	x := newTiers(t, d, "10.20")

	// The database port, from the web tier's group only.
	assert.True(t, connects(t, d, x.web, x.db, "tcp", 5432), "web -> db:5432")
	assert.False(t, connects(t, d, x.web, x.db, "tcp", 5433), "web -> db:5433, no rule")
	assert.False(t, connects(t, d, x.other, x.db, "tcp", 5432), "a stranger -> db:5432")
	assert.NotZero(t, drops(t, d, x.db.id)["sg-ingress"])
	// A new group lets nothing in: the answer to web came back only as return traffic.
	assert.False(t, connects(t, d, x.db, x.web, "tcp", 5432), "db -> web: the web group has no inbound rule")

	// Membership changes take effect: the stranger joins the web tier, then leaves it.
	d.JSON(&api.ReturnResponse{}, "instance", "set-groups", x.other.id, "--sg", x.otherSG, "--sg", x.webSG)
	assert.True(t, connects(t, d, x.other, x.db, "tcp", 5432), "a stranger that joined web")
	d.JSON(&api.ReturnResponse{}, "instance", "set-groups", x.other.id, "--sg", x.otherSG)
	assert.False(t, connects(t, d, x.other, x.db, "tcp", 5432), "a stranger that left web")

	// A CIDR source: the web subnet may reach port 7000, the stranger's subnet may not.
	authorize(t, d, x.dbSG, "--ingress", "--protocol", "tcp", "--port", "7000-7001", "--cidr", "10.20.1.0/24")
	assert.True(t, connects(t, d, x.web, x.db, "tcp", 7000))
	assert.False(t, connects(t, d, x.other, x.db, "tcp", 7000))

	// UDP: the answer comes back though web lets no UDP in.
	authorize(t, d, x.dbSG, "--ingress", "--protocol", "udp", "--port", "53", "--source-group", x.webSG)
	assert.True(t, connects(t, d, x.web, x.db, "udp", 53), "udp query and its answer")
	assert.False(t, connects(t, d, x.db, x.web, "udp", 53), "udp into web")

	// ICMP by type: echo requests (8) in; a rule for another type (13, timestamp) lets no ping in.
	assert.False(t, pings(t, d, x.web, x.db))
	authorize(t, d, x.dbSG, "--ingress", "--protocol", "icmp", "--port", "13", "--cidr", "10.20.0.0/16")
	assert.False(t, pings(t, d, x.web, x.db), "ping with only a timestamp rule")
	authorize(t, d, x.dbSG, "--ingress", "--protocol", "icmp", "--port", "8:0", "--cidr", "10.20.0.0/16")
	assert.True(t, pings(t, d, x.web, x.db), "ping with an echo rule")
	revoke(t, d, x.dbSG, "--ingress", "--protocol", "icmp", "--port", "8:0", "--cidr", "10.20.0.0/16")
	// web's echo flow is tracked for 30 s more; the stranger, in the same CIDR, has none.
	assert.True(t, pings(t, d, x.web, x.db), "a tracked echo flow outlives its rule")
	assert.False(t, pings(t, d, x.other, x.db), "ping after the echo rule was revoked")
}

// A flow that a rule allowed lives on after the rule is revoked; a new one is refused.
func TestRevokeKeepsEstablishedFlow(t *testing.T) {
	d := hostdtest.Start(t)
	x := newTiers(t, d, "10.21")
	authorize(t, d, x.dbSG, "--ingress", "--protocol", "tcp", "--port", "5433", "--source-group", x.webSG)
	go d.Exec(x.db.id, "hostd", "probe", "serve", "--port", "5433", "--seconds", "20")
	// Each step waits for the socket it needs, not for a guess: under emulation (the kernel
	// matrix) an exec takes seconds.
	require.Eventually(t, func() bool { return socketIn(t, x.db.id, "tcp", 5433, tcpListen) }, 30*time.Second, 10*time.Millisecond, "the server never listened")
	rr := func(seconds string) (int64, int64, error) {
		out, stderr, code := d.Exec(x.web.id, "hostd", "probe", "rr", "--addr", x.db.ip+":5433", "--seconds", seconds)
		if code != 0 {
			return 0, 0, fmt.Errorf("%s", stderr)
		}
		var res struct{ Transactions, MaxGapMicros int64 }
		require.NoError(t, json.Unmarshal([]byte(out), &res))
		return res.Transactions, res.MaxGapMicros, nil
	}
	var wg sync.WaitGroup
	wg.Add(1)
	var n int64
	var err error
	go func() { defer wg.Done(); n, _, err = rr("4") }()
	require.Eventually(t, func() bool { return socketIn(t, x.db.id, "tcp", 5433, tcpEstablished) }, 30*time.Second, 10*time.Millisecond, "the flow never opened")
	// The datapath's drop counters on both ends say whether any packet of the flow was lost to
	// the revoke. (Not the longest transaction: on a loaded machine, or under emulation, a
	// scheduling stall looks like a retransmission's 200 ms.)
	webDrops, dbDrops := drops(t, d, x.web.id), drops(t, d, x.db.id)
	revoke(t, d, x.dbSG, "--ingress", "--protocol", "tcp", "--port", "5433", "--source-group", x.webSG)
	wg.Wait()
	require.NoError(t, err, "the established connection broke")
	assert.Positive(t, n)
	assert.Equal(t, webDrops, drops(t, d, x.web.id), "the datapath dropped packets of the established flow")
	assert.Equal(t, dbDrops, drops(t, d, x.db.id), "the datapath dropped packets of the established flow")
	_, _, newErr := rr("0.2")
	assert.Error(t, newErr, "a new connection after the revoke")
}

func TestNetworkACLsEndToEnd(t *testing.T) {
	d := hostdtest.Start(t)
	x := newTiers(t, d, "10.22")
	authorize(t, d, x.dbSG, "--ingress", "--protocol", "all", "--cidr", "10.22.0.0/16")
	db2 := launchIn(t, d, x.subnets[1], "--sg", x.dbSG)
	require.True(t, connects(t, d, x.web, x.db, "tcp", 5432))

	// A new ACL denies everything, but only where traffic enters or leaves its subnet.
	var acl api.CreateNetworkAclResponse
	d.JSON(&acl, "nacl", "create", "--vpc", x.vpc)
	d.JSON(&api.ReturnResponse{}, "nacl", "associate", "--nacl", acl.NetworkAclId, "--subnet", x.subnets[1])
	assert.False(t, connects(t, d, x.web, x.db, "tcp", 5432), "into a subnet under a new ACL")
	assert.NotZero(t, drops(t, d, x.db.id)["nacl-in"])
	assert.True(t, connects(t, d, db2, x.db, "tcp", 5432), "within the subnet the ACL does not apply")

	// Entries, lowest number first: allow all, then a deny numbered ahead of it.
	entry := func(n int, dir, action string, rule ...string) {
		d.JSON(&api.ReturnResponse{}, append([]string{"nacl", "entry", "--nacl", acl.NetworkAclId, "--rule-number", fmt.Sprint(n), dir, "--action", action}, rule...)...)
	}
	entry(100, "--ingress", "allow", "--protocol", "all", "--cidr", "0.0.0.0/0")
	entry(100, "--egress", "allow", "--protocol", "all", "--cidr", "0.0.0.0/0")
	assert.True(t, connects(t, d, x.web, x.db, "tcp", 5432), "allowed by entry 100")
	entry(50, "--ingress", "deny", "--protocol", "tcp", "--port", "5432", "--cidr", "10.22.1.0/24")
	assert.False(t, connects(t, d, x.web, x.db, "tcp", 5432), "denied by entry 50 ahead of 100")
	assert.True(t, connects(t, d, x.web, x.db, "tcp", 7000), "another port still allowed by 100")
	// Stateless: the answers leave through the egress entries, which a deny there stops.
	d.JSON(&api.ReturnResponse{}, "nacl", "delete-entry", "--nacl", acl.NetworkAclId, "--rule-number", "50", "--ingress")
	entry(60, "--egress", "deny", "--protocol", "tcp", "--port", "1024-65535", "--cidr", "10.22.1.0/24")
	assert.False(t, connects(t, d, x.web, x.db, "tcp", 5432), "answers to ephemeral ports denied out")
	assert.NotZero(t, drops(t, d, x.db.id)["nacl-out"])

	var desc api.DescribeNetworkAclsResponse
	d.JSON(&desc, "nacl", "describe", acl.NetworkAclId)
	require.Len(t, desc.NetworkAcls, 1)
	assert.Equal(t, []api.NetworkAclAssociation{{NetworkAclId: acl.NetworkAclId, SubnetId: x.subnets[1]}}, desc.NetworkAcls[0].Associations)
	assert.Len(t, desc.NetworkAcls[0].Entries, 3+2, "three entries and the two implicit denies")
}

// Two tenants with the same CIDR and the same rules: the rules of one never admit the other.
func TestOverlappingVPCsKeepTheirRules(t *testing.T) {
	d := hostdtest.Start(t)
	a, b := newTiers(t, d, "10.23"), newTiers(t, d, "10.23")
	for _, x := range []tiers{a, b} {
		authorize(t, d, x.dbSG, "--ingress", "--protocol", "all", "--cidr", "0.0.0.0/0")
	}
	assert.True(t, connects(t, d, a.web, a.db, "tcp", 5432))
	assert.True(t, connects(t, d, b.web, b.db, "tcp", 5432))
	require.Equal(t, a.db.ip, b.db.ip)
	// b's web reaching "a.db's address" reaches b's own db, never a's.
	wait := listen(t, d, a.db, "tcp", 5500)
	d.Exec(b.web.id, "hostd", "probe", "connect", "--addr", a.db.ip+":5500", "--message", "cross", "--timeout", "1s")
	assert.Equal(t, "", wait())
}

func TestFirewallBadInputChangesNothing(t *testing.T) {
	d := hostdtest.Start(t)
	x := newTiers(t, d, "10.24")
	otherVpc, otherSubnets := createVpc(t, d, "10.25.0.0/16", "10.25.1.0/24")
	foreignSG := createGroup(t, d, otherVpc, "foreign")
	var vpcs api.DescribeVpcsResponse
	d.JSON(&vpcs, "vpc", "describe", x.vpc)
	var groups api.DescribeSecurityGroupsResponse
	d.JSON(&groups, "sg", "describe")
	var defaultSG string
	for _, g := range groups.SecurityGroups {
		if g.VpcId == x.vpc && g.GroupName == "default" {
			defaultSG = g.GroupId
		}
	}
	require.NotEmpty(t, defaultSG)
	var acl api.CreateNetworkAclResponse
	d.JSON(&acl, "nacl", "create", "--vpc", x.vpc)

	snapshot := func() string {
		var sgs api.DescribeSecurityGroupsResponse
		var acls api.DescribeNetworkAclsResponse
		d.JSON(&sgs, "sg", "describe")
		d.JSON(&acls, "nacl", "describe")
		var inst api.DescribeInstancesResponse
		d.JSON(&inst, "instance", "describe")
		data, _ := json.Marshal([]any{sgs, acls, len(inst.Instances)})
		return string(data)
	}
	rule := func(extra ...string) []string {
		return append([]string{"sg", "authorize", "--group", x.dbSG, "--ingress"}, extra...)
	}
	cases := []struct {
		code string
		args []string
	}{
		{"InvalidParameterValue", rule("--protocol", "tcp", "--port", "80", "--cidr", "10.0.0.1/8")},
		{"InvalidParameterValue", rule("--protocol", "tcp", "--port", "80", "--cidr", "10.0.0.0/33")},
		{"InvalidParameterValue", rule("--protocol", "tcp", "--port", "90-80", "--cidr", "10.0.0.0/8")},
		{"InvalidParameterValue", rule("--protocol", "tcp", "--port", "70000", "--cidr", "10.0.0.0/8")},
		{"InvalidParameterValue", rule("--protocol", "tcp", "--cidr", "10.0.0.0/8")},
		{"InvalidParameterValue", rule("--protocol", "icmp", "--port", "256", "--cidr", "10.0.0.0/8")},
		{"InvalidParameterValue", rule("--protocol", "icmp", "--port", "-1:3", "--cidr", "10.0.0.0/8")},
		{"InvalidParameterValue", rule("--protocol", "bogus", "--cidr", "10.0.0.0/8")},
		{"InvalidParameterValue", rule("--protocol", "300", "--cidr", "10.0.0.0/8")},
		{"InvalidPermission.Duplicate", rule("--protocol", "tcp", "--port", "5432", "--source-group", x.webSG)},
		{"InvalidPermission.Malformed", rule("--ip-permissions", `[{"IpProtocol":"tcp","Bogus":1}]`)},
		{"InvalidGroupId.Malformed", rule("--protocol", "tcp", "--port", "1", "--source-group", "web")},
		{"InvalidGroup.NotFound", rule("--protocol", "tcp", "--port", "1", "--source-group", "sg-00000000000000000")},
		{"InvalidGroup.NotFound", rule("--protocol", "tcp", "--port", "1", "--source-group", foreignSG)},
		{"MissingParameter", rule("--ip-permissions", `[]`)},
		{"InvalidPermission.NotFound", []string{"sg", "revoke", "--group", x.dbSG, "--ingress", "--protocol", "tcp", "--port", "1", "--cidr", "1.0.0.0/8"}},
		{"InvalidGroup.NotFound", []string{"sg", "authorize", "--group", "sg-00000000000000000", "--ingress", "--protocol", "all", "--cidr", "0.0.0.0/0"}},
		{"InvalidGroup.Duplicate", []string{"sg", "create", "--vpc", x.vpc, "--name", "web"}},
		{"InvalidGroup.Reserved", []string{"sg", "create", "--vpc", x.vpc, "--name", "default"}},
		{"InvalidVpcID.NotFound", []string{"sg", "create", "--vpc", "vpc-00000000000000000", "--name", "x"}},
		{"CannotDelete", []string{"sg", "delete", defaultSG}},
		{"DependencyViolation", []string{"sg", "delete", x.webSG}}, // in use, and named by db's rule
		{"DependencyViolation", []string{"vpc", "delete", otherVpc}},
		{"SecurityGroupsPerInterfaceLimitExceeded", []string{"instance", "set-groups", x.web.id, "--sg", x.webSG, "--sg", x.dbSG, "--sg", x.otherSG, "--sg", defaultSG, "--sg", createGroup(t, d, x.vpc, "five"), "--sg", createGroup(t, d, x.vpc, "six")}},
		{"InvalidParameterValue", []string{"instance", "set-groups", x.web.id, "--sg", foreignSG}},
		{"InvalidParameterValue", []string{"instance", "run", "--subnet", x.subnets[0], "--sg", foreignSG, "--", "true"}},
		{"InvalidParameterValue", []string{"instance", "run", "--sg", x.webSG, "--", "true"}},
		{"InvalidParameterValue", []string{"nacl", "entry", "--nacl", acl.NetworkAclId, "--rule-number", "0", "--ingress", "--action", "allow", "--protocol", "all", "--cidr", "0.0.0.0/0"}},
		{"InvalidParameterValue", []string{"nacl", "entry", "--nacl", acl.NetworkAclId, "--rule-number", "32767", "--ingress", "--action", "allow", "--protocol", "all", "--cidr", "0.0.0.0/0"}},
		{"InvalidParameterValue", []string{"nacl", "entry", "--nacl", acl.NetworkAclId, "--rule-number", "5", "--ingress", "--action", "maybe", "--protocol", "all", "--cidr", "0.0.0.0/0"}},
		{"InvalidParameterValue", []string{"nacl", "entry", "--nacl", acl.NetworkAclId, "--rule-number", "5", "--ingress", "--action", "allow", "--protocol", "tcp", "--port", "1", "--cidr", "10.0.0.1/8"}},
		{"InvalidNetworkAclEntry.NotFound", []string{"nacl", "delete-entry", "--nacl", acl.NetworkAclId, "--rule-number", "5", "--ingress"}},
		{"InvalidNetworkAclID.NotFound", []string{"nacl", "associate", "--nacl", "acl-00000000000000000", "--subnet", x.subnets[0]}},
		{"InvalidNetworkAclID.Malformed", []string{"nacl", "describe", "nacl-1"}},
		{"InvalidParameterValue", []string{"nacl", "associate", "--nacl", acl.NetworkAclId, "--subnet", otherSubnets[0]}},
	}
	before := snapshot() // after the groups the cases made
	for _, c := range cases {
		_, stderr, code := d.Run(c.args...)
		assert.Equal(t, 1, code, "%v", c.args)
		assert.Contains(t, stderr, `"Code":"`+c.code+`"`, "%v", c.args)
	}
	assert.Equal(t, before, snapshot(), "a refused call changed something")

	// 60 rules per direction, and the 61st refused with nothing added.
	for i := range api.MaxRulesPerDirection {
		authorize(t, d, x.otherSG, "--ingress", "--protocol", "tcp", "--port", fmt.Sprint(1000+i), "--cidr", "10.0.0.0/8")
	}
	_, stderr, code := d.Run("sg", "authorize", "--group", x.otherSG, "--ingress", "--protocol", "tcp", "--port", "2000", "--cidr", "10.0.0.0/8")
	assert.Equal(t, 1, code)
	assert.Contains(t, stderr, "RulesPerSecurityGroupLimitExceeded")
	var g api.DescribeSecurityGroupsResponse
	d.JSON(&g, "sg", "describe", x.otherSG)
	assert.Len(t, g.SecurityGroups[0].IpPermissions, api.MaxRulesPerDirection)
	assert.Len(t, g.SecurityGroups[0].IpPermissionsEgress, 1, "a new group's one outbound rule")
}

// sg modify changes a rule in place: the same id, the new port enforced and the old one refused.
// Each bad modify exits 1 with EC2's code and changes neither the records nor the datapath.
func TestModifyRuleInPlace(t *testing.T) {
	d := hostdtest.Start(t)
	x := newTiers(t, d, "10.29")
	otherVpc, _ := createVpc(t, d, "10.30.0.0/16")
	foreignSG := createGroup(t, d, otherVpc, "foreign")
	authorize(t, d, x.dbSG, "--ingress", "--protocol", "tcp", "--port", "6000", "--cidr", "10.29.1.0/24")
	rules := func() []api.SecurityGroupRule {
		var out api.DescribeSecurityGroupRulesResponse
		d.JSON(&out, "sg", "rules", x.dbSG)
		return out.SecurityGroupRules
	}
	var dbRule string
	for _, r := range rules() {
		if r.ReferencedGroupInfo != nil && r.FromPort == 5432 {
			dbRule = r.SecurityGroupRuleId
		}
	}
	require.NotEmpty(t, dbRule, "%v", rules())
	require.True(t, connects(t, d, x.web, x.db, "tcp", 5432), "web -> db:5432 before the modify")
	require.False(t, connects(t, d, x.web, x.db, "tcp", 5433), "web -> db:5433 before the modify")

	d.JSON(&api.ReturnResponse{}, "sg", "modify", "--group", x.dbSG, "--rule-id", dbRule,
		"--protocol", "tcp", "--port", "5433", "--source-group", x.webSG, "--description", "db moved")
	assert.True(t, connects(t, d, x.web, x.db, "tcp", 5433), "web -> db:5433, the rule's new port")
	assert.False(t, connects(t, d, x.web, x.db, "tcp", 5432), "web -> db:5432, the rule's old port")
	assert.False(t, connects(t, d, x.other, x.db, "tcp", 5433), "a stranger -> db:5433")
	after := rules()
	i := slices.IndexFunc(after, func(r api.SecurityGroupRule) bool { return r.SecurityGroupRuleId == dbRule })
	require.GreaterOrEqual(t, i, 0, "the rule keeps its id: %v", after)
	assert.Equal(t, 5433, after[i].FromPort)
	assert.Equal(t, 5433, after[i].ToPort)
	assert.Equal(t, "db moved", after[i].Description)

	modify := func(ruleID string, rule ...string) []string {
		return append([]string{"sg", "modify", "--group", x.dbSG, "--rule-id", ruleID}, rule...)
	}
	port := func(p string) []string { return []string{"--protocol", "tcp", "--port", p, "--source-group", x.webSG} }
	cases := []struct {
		code string
		args []string
	}{
		{"InvalidSecurityGroupRuleId.NotFound", modify("sgr-00000000000000000", port("5434")...)},
		{"InvalidParameterValue", modify(dbRule, port("90-80")...)},
		{"InvalidParameterValue", modify(dbRule, port("70000")...)},
		{"InvalidPermission.Duplicate", modify(dbRule, "--protocol", "tcp", "--port", "6000", "--cidr", "10.29.1.0/24")},
		{"InvalidGroup.NotFound", modify(dbRule, "--protocol", "tcp", "--port", "5434", "--source-group", foreignSG)},
		{"InvalidParameterValue", modify(dbRule, "--ip-permissions", `[{"IpProtocol":"tcp","FromPort":1,"ToPort":1,"IpRanges":[{"CidrIp":"10.0.0.0/8"},{"CidrIp":"10.1.0.0/16"}]}]`)},
		{"MissingParameter", []string{"sg", "modify", "--group", x.dbSG, "--protocol", "tcp", "--port", "1", "--cidr", "10.0.0.0/8"}},
		{"InvalidGroup.NotFound", []string{"sg", "modify", "--group", "sg-00000000000000000", "--rule-id", dbRule, "--protocol", "tcp", "--port", "1", "--cidr", "10.0.0.0/8"}},
	}
	for _, c := range cases {
		_, stderr, code := d.Run(c.args...)
		assert.Equal(t, 1, code, "%v", c.args)
		got, msg := hostdtest.ErrorOf(t, strings.TrimSpace(stderr))
		assert.Equal(t, c.code, got, "%v: %s", c.args, msg)
	}
	assert.Equal(t, after, rules(), "a refused modify changed the rules")
	assert.True(t, connects(t, d, x.web, x.db, "tcp", 5433), "web -> db:5433 after the refusals")
	assert.False(t, connects(t, d, x.web, x.db, "tcp", 5432), "web -> db:5432 after the refusals")
}

// The rules keep being enforced while no daemon runs; a restarted daemon compiles them afresh,
// replaces the old rule sets without a gap, and goes on changing them.
func TestFirewallAcrossDaemonRestart(t *testing.T) {
	d := hostdtest.Start(t)
	x := newTiers(t, d, "10.26")
	d.Kill()
	assert.True(t, connects(t, d, x.web, x.db, "tcp", 5432), "allowed while the daemon is dead")
	assert.False(t, connects(t, d, x.other, x.db, "tcp", 5432), "denied while the daemon is dead")
	d.Restart()
	assert.True(t, connects(t, d, x.web, x.db, "tcp", 5432), "allowed after the restart")
	assert.False(t, connects(t, d, x.other, x.db, "tcp", 5432), "denied after the restart")
	authorize(t, d, x.dbSG, "--ingress", "--protocol", "tcp", "--port", "5432", "--source-group", x.otherSG)
	assert.True(t, connects(t, d, x.other, x.db, "tcp", 5432), "a rule added after the restart")
	assert.Less(t, ruleSets(t, d), 8, "rule sets of the dead daemon were left behind")
}

// ruleSets counts the distinct rule sets in the daemon's pinned verdict map.
func ruleSets(t *testing.T, d *hostdtest.Daemon) int {
	m, err := ebpf.LoadPinnedMap(filepath.Join("/sys/fs/bpf/hostd", d.Fabric, "rule_ports"), nil)
	require.NoError(t, err)
	defer m.Close()
	sets := map[uint32]bool{}
	var key bpf.DatapathRulePortKey
	var row bpf.DatapathRulePortBits
	for it := m.Iterate(); it.Next(&key, &row); {
		sets[key.Set&uint32(bpf.DatapathRuleSetBitsSET_NUMBER)] = true
	}
	return len(sets)
}

// A full conntrack table refuses new flows, counts them and says so in the log, while a tracked
// flow goes on. (The table fills only when the instances' allowances add up to more than it holds:
// here, a daemon restarted with a smaller --conntrack-max, which says so.)
func TestConntrackFull(t *testing.T) {
	d := hostdtest.Start(t)
	x := newTiers(t, d, "10.27")
	d.RestartWith("--conntrack-max", "4")
	assert.Contains(t, d.Log(), "conntrack allowances add up to more than --conntrack-max")
	authorize(t, d, x.dbSG, "--ingress", "--protocol", "tcp", "--port", "5433", "--source-group", x.webSG)
	authorize(t, d, x.dbSG, "--ingress", "--protocol", "udp", "--port", "6000-6100", "--source-group", x.webSG)
	go d.Exec(x.db.id, "hostd", "probe", "serve", "--port", "5433", "--seconds", "8")
	time.Sleep(300 * time.Millisecond)
	var wg sync.WaitGroup
	wg.Add(1)
	var out, stderr string
	var code int
	go func() {
		defer wg.Done()
		out, stderr, code = d.Exec(x.web.id, "hostd", "probe", "rr", "--addr", x.db.ip+":5433", "--seconds", "4")
	}()
	time.Sleep(500 * time.Millisecond)
	// Ten new UDP flows: three fit beside the TCP one, the rest find the table full.
	for port := 6000; port < 6010; port++ {
		d.MustExec(x.web.id, "hostd", "probe", "send", "--dst-ip", x.db.ip, "--proto", "udp", "--dport", fmt.Sprint(port))
	}
	full := drops(t, d, x.web.id)["ct-full"] + drops(t, d, x.db.id)["ct-full"]
	assert.Equal(t, uint64(7), full, "new flows past the limit of 4")
	require.Eventually(t, func() bool { return strings.Contains(d.Log(), "the conntrack table is full") }, 5*time.Second, 100*time.Millisecond)
	wg.Wait()
	require.Equal(t, 0, code, "the tracked flow stopped: %s", stderr)
	var rr struct{ Transactions, MaxGapMicros int64 }
	require.NoError(t, json.Unmarshal([]byte(out), &rr))
	assert.Less(t, rr.MaxGapMicros, int64(200_000), "the tracked flow stalled")
}

// An ICMP error about a tracked flow comes back though no rule lets ICMP in: a UDP datagram to a
// closed port gets its port-unreachable, and the sender hears "connection refused" at once
// instead of waiting for a reply that never comes.
func TestICMPErrorsOfTrackedFlowsAreRelated(t *testing.T) {
	d := hostdtest.Start(t)
	x := newTiers(t, d, "10.28")
	authorize(t, d, x.dbSG, "--ingress", "--protocol", "udp", "--port", "9999", "--source-group", x.webSG)
	_, stderr, code := d.Exec(x.web.id, "hostd", "probe", "connect", "--proto", "udp", "--addr", x.db.ip+":9999", "--timeout", "2s")
	assert.Equal(t, 1, code)
	assert.Contains(t, stderr, "connection refused", "the port unreachable did not come back")
}

// sniffWhile runs `probe sniff` (promiscuous) in inst for 2 s while do runs, and returns what it
// saw.
func sniffWhile(t *testing.T, d *hostdtest.Daemon, inst netInstance, do func()) probe.SniffResult {
	t.Helper()
	var res probe.SniffResult
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		out := d.MustExec(inst.id, "hostd", "probe", "sniff", "--seconds", "2")
		assert.NoError(t, json.Unmarshal([]byte(out), &res))
	}()
	time.Sleep(300 * time.Millisecond) // the sniffer is up well within this
	do()
	wg.Wait()
	return res
}

// saw tells whether a sniffer saw a flow from src of proto.
func saw(res probe.SniffResult, src, proto string) bool {
	return slices.ContainsFunc(res.Flows, func(f probe.Flow) bool { return f.Src == src && f.Proto == proto })
}

// setAllowance is a test-only switch of the negative control: it sets the conntrack allowance of
// the interface with mac in the daemon's pinned datapath.
func setAllowance(t *testing.T, d *hostdtest.Daemon, mac string, allowance uint32) {
	t.Helper()
	m, err := ebpf.LoadPinnedMap(filepath.Join("/sys/fs/bpf/hostd", d.Fabric, "ifaces"), nil)
	require.NoError(t, err)
	defer m.Close()
	var key uint32
	var val bpf.DatapathIface
	for it := m.Iterate(); it.Next(&key, &val); {
		if net.HardwareAddr(val.Mac[:]).String() == mac {
			val.CtAllowance = allowance
			require.NoError(t, m.Put(key, val))
			return
		}
	}
	t.Fatalf("no datapath entry for %s", mac)
}

// Flooders fill their own shares of the conntrack table and no more, even together (three
// instances of one tenant, each flooding 30,000 new UDP flows, as in the attack of issue 10): the
// table's room is reserved to each interface at launch, so neighbours in the flooders' VPC and in
// another keep opening connections. An instance whose allowance does not fit
// beside the others' is refused (InsufficientInstanceCapacity) and nothing of it is made; control:
// it fits once another ends. Control: with the flooders' allowances lifted past their reservations
// (the table overcommitted, as before the reservations), the same floods fill the table and a
// neighbour in another VPC can connect no more.
func TestConntrackFloodsFillOnlyTheFloodersShares(t *testing.T) {
	// The table: 5 × 16,384 (the default allowance) + 1,024 + 1,024 = 83,968.
	d := hostdtest.Start(t, "--conntrack-max", "83968")
	vpc, subnets := createVpc(t, d, "10.29.0.0/16", "10.29.1.0/24")
	sinkSG := createGroup(t, d, vpc, "sink")
	authorize(t, d, sinkSG, "--ingress", "--protocol", "all", "--cidr", "10.29.0.0/16")
	var flooders []netInstance
	for range 3 {
		flooders = append(flooders, launchIn(t, d, subnets[0], "--pps", "0")) // the conntrack allowance alone, no pps allowance
	}
	sink := launchIn(t, d, subnets[0], "--sg", sinkSG, "--conntrack", "1024")
	neighbour := launchIn(t, d, subnets[0], "--conntrack", "1024")
	_, others := createVpc(t, d, "10.30.0.0/16", "10.30.1.0/24")
	a, b := launchIn(t, d, others[0]), launchIn(t, d, others[0])

	// The table is all reserved: one more instance is refused, and nothing of it is made.
	_, stderr, code := d.Run("instance", "run", "--subnet", others[0], "--conntrack", "1", "--", "sleep", "1000")
	assert.Equal(t, 1, code)
	c, msg := hostdtest.ErrorOf(t, stderr)
	assert.Equal(t, api.CodeInsufficientCapacity, c)
	assert.Contains(t, msg, "room for 0 more tracked connections")
	var all api.DescribeInstancesResponse
	d.JSON(&all, "instance", "describe")
	assert.Len(t, all.Instances, 7, "a refused launch left an instance behind")

	const flows = 30000
	flood := func(sport string) {
		var wg sync.WaitGroup
		for _, f := range flooders {
			wg.Add(1)
			go func() {
				defer wg.Done()
				d.MustExec(f.id, "hostd", "probe", "send", "--dst-ip", sink.ip, "--proto", "udp", "--sport", sport, "--dport", "9", "--count", fmt.Sprint(flows), "--flows")
			}()
		}
		wg.Wait()
	}
	flood("20000")
	for _, f := range flooders {
		refused := drops(t, d, f.id)["conntrack_allowance_exceeded"]
		assert.InDelta(t, flows-vnet.DefaultConntrackAllowance, refused, 100, "new flows past a flooder's allowance")
	}
	assert.True(t, connects(t, d, a, b, "tcp", 5000), "a tenant of another VPC connects")
	assert.True(t, connects(t, d, neighbour, sink, "tcp", 5000), "a neighbour in the flooders' VPC connects")
	assert.Zero(t, drops(t, d, b.id)["ct-full"])

	// Control of the refusal: room freed by an instance that ends is given to the next.
	d.JSON(&api.ReturnResponse{}, "instance", "terminate", neighbour.id)
	launchIn(t, d, others[0], "--conntrack", "1024")

	// Control: the flooders' shares lifted past what was reserved for them.
	for _, f := range flooders {
		setAllowance(t, d, f.mac, 1<<20)
	}
	flood("1024")
	assert.False(t, connects(t, d, a, b, "tcp", 5001), "control: the table is full for everyone")
	assert.NotZero(t, drops(t, d, b.id)["ct-full"])
}

// An ICMP error naming a flow between two other instances, carrying a payload of its own, sent to
// an instance whose groups admit nothing: refused, since it does not come back along that flow.
// Controls: the same frame arrives once the victim's group admits ICMP from the sender (so the
// sniffer would have seen it), and a genuine port unreachable still comes back to the flow's
// initiator (TestICMPErrorsOfTrackedFlowsAreRelated).
func TestICMPErrorsCannotBeSmuggled(t *testing.T) {
	d := hostdtest.Start(t)
	x := newTiers(t, d, "10.31")
	authorize(t, d, x.dbSG, "--ingress", "--protocol", "udp", "--port", "9999", "--source-group", x.webSG)
	attacker := launchIn(t, d, x.subnets[2])
	// A flow from web to db, tracked.
	d.MustExec(x.web.id, "hostd", "probe", "send", "--dst-ip", x.db.ip, "--proto", "udp", "--sport", "40000", "--dport", "9999")
	smuggle := func() {
		d.MustExec(attacker.id, "hostd", "probe", "send", "--dst-ip", x.other.ip, "--proto", "unreachable",
			"--quote-src", x.web.ip+":40000", "--quote-dst", x.db.ip+":9999", "--payload", "smuggled past a group that admits nothing", "--count", "3")
	}
	before := drops(t, d, x.other.id)["sg-ingress"]
	assert.False(t, saw(sniffWhile(t, d, x.other, smuggle), attacker.ip, "ICMPv4"), "the smuggled error arrived")
	assert.Equal(t, before+3, drops(t, d, x.other.id)["sg-ingress"])

	// Control: admitted by a rule, the same frames arrive, and the sniffer sees them.
	authorize(t, d, x.otherSG, "--ingress", "--protocol", "icmp", "--cidr", attacker.ip+"/32")
	assert.True(t, saw(sniffWhile(t, d, x.other, smuggle), attacker.ip, "ICMPv4"), "control: the sniffer sees errors that are let in")
}
