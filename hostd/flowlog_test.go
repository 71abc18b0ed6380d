package main_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hostd/hostd/hostd/api"
	"github.com/hostd/hostd/hostd/hostdtest"
)

// flowLine is one line of a flow log, fields by their v2 names.
type flowLine map[string]string

var flowFields = strings.Fields("version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status")

// readFlowLog reads a flow log file's lines.
func readFlowLog(t *testing.T, path string) []flowLine {
	t.Helper()
	data, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return nil
	}
	require.NoError(t, err)
	var out []flowLine
	for _, l := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		f := strings.Fields(l)
		require.Len(t, f, len(flowFields), "a v2 line: %q", l)
		line := flowLine{}
		for i, name := range flowFields {
			line[name] = f[i]
		}
		out = append(out, line)
	}
	return out
}

// sumFlow adds up packets and bytes of the lines of one interface, flow and action, over every
// interval (a burst may straddle two).
func sumFlow(lines []flowLine, eni, src, dst, dport, action string) (packets, bytes int) {
	for _, l := range lines {
		if l["interface-id"] == eni && l["srcaddr"] == src && l["dstaddr"] == dst && l["dstport"] == dport && l["action"] == action {
			p, _ := strconv.Atoi(l["packets"])
			b, _ := strconv.Atoi(l["bytes"])
			packets, bytes = packets+p, bytes+b
		}
	}
	return packets, bytes
}

func eniOf(t *testing.T, d *hostdtest.Daemon, id string) string {
	return describe(t, d, id).NetworkInterfaces[0].NetworkInterfaceId
}

// A known exchange: N datagrams a group accepts, M it rejects, K an ACL rejects. The VPC's flow
// log shows each with exactly those packets and bytes, on the sender's interface and on the
// receiver's, with the action each side saw; an idle interface gets NODATA; another VPC's
// (another tenant's) interfaces never appear; describe's counters agree.
func TestFlowLogCountsExactly(t *testing.T) {
	d := hostdtest.Start(t)
	vpc, subnets := createVpc(t, d, "10.43.0.0/16", "10.43.1.0/24", "10.43.2.0/24")
	web := createGroup(t, d, vpc, "web")
	authorize(t, d, web, "--ingress", "--protocol", "udp", "--port", "7000", "--cidr", "10.43.0.0/16")
	var acl struct{ NetworkAclId string }
	d.JSON(&acl, "nacl", "create", "--vpc", vpc)
	d.JSON(&struct{}{}, "nacl", "entry", "--nacl", acl.NetworkAclId, "--rule-number", "100", "--ingress", "--action", "deny", "--protocol", "udp", "--port", "7000", "--cidr", "10.43.1.0/24")
	d.JSON(&struct{}{}, "nacl", "entry", "--nacl", acl.NetworkAclId, "--rule-number", "200", "--ingress", "--action", "allow", "--protocol", "all", "--cidr", "0.0.0.0/0")
	d.JSON(&struct{}{}, "nacl", "entry", "--nacl", acl.NetworkAclId, "--rule-number", "200", "--egress", "--action", "allow", "--protocol", "all", "--cidr", "0.0.0.0/0")
	d.JSON(&struct{}{}, "nacl", "associate", "--nacl", acl.NetworkAclId, "--subnet", subnets[1])
	a := launchIn(t, d, subnets[0])
	b := launchIn(t, d, subnets[0], "--sg", web)
	c := launchIn(t, d, subnets[1], "--sg", web)
	idle := launchIn(t, d, subnets[0])
	_, others := createVpc(t, d, "10.43.0.0/16", "10.43.1.0/24") // another tenant, the same addresses
	x, y := launchIn(t, d, others[0]), launchIn(t, d, others[0])

	path := filepath.Join(d.Dir, "vpc.log")
	var fl api.FlowLog
	d.JSON(&fl, "flow-log", "create", "--resource", vpc, "--traffic-type", "ALL", "--interval", "2s", "--destination", path)
	assert.Equal(t, "ACTIVE", fl.FlowLogStatus)
	rejects := filepath.Join(d.Dir, "rejects.log")
	d.JSON(&fl, "flow-log", "create", "--resource", eniOf(t, d, b.id), "--traffic-type", "REJECT", "--interval", "2s", "--destination", rejects)

	const n, m, k, payload = 5, 3, 4, "flow-log-test"
	size := 20 + 8 + len(payload)
	send := func(from, to netInstance, port, count int) {
		d.MustExec(from.id, "hostd", "probe", "send", "--proto", "udp", "--dst-ip", to.ip, "--sport", "40000", "--dport", fmt.Sprint(port), "--count", fmt.Sprint(count), "--payload", payload)
	}
	send(a, b, 7000, n)
	send(a, b, 7001, m)
	send(a, c, 7000, k)
	send(x, y, 7000, 9)
	time.Sleep(hostdtest.Scaled(5 * time.Second)) // two intervals and more

	lines := readFlowLog(t, path)
	ea, eb, ec := eniOf(t, d, a.id), eniOf(t, d, b.id), eniOf(t, d, c.id)
	for _, w := range []struct {
		eni, dst, dport, action string
		count                   int
	}{
		{ea, b.ip, "7000", "ACCEPT", n}, {eb, b.ip, "7000", "ACCEPT", n},
		{ea, b.ip, "7001", "ACCEPT", m}, {eb, b.ip, "7001", "REJECT", m}, // out of a, refused by b's group
		{ea, c.ip, "7000", "ACCEPT", k}, {ec, c.ip, "7000", "REJECT", k}, // out of a, refused by c's subnet ACL
	} {
		p, by := sumFlow(lines, w.eni, a.ip, w.dst, w.dport, w.action)
		assert.Equal(t, w.count, p, "packets of %s→%s:%s %s on %s", a.ip, w.dst, w.dport, w.action, w.eni)
		assert.Equal(t, w.count*size, by, "bytes of %s→%s:%s %s on %s", a.ip, w.dst, w.dport, w.action, w.eni)
	}
	p, _ := sumFlow(lines, ea, a.ip, b.ip, "7001", "REJECT")
	assert.Zero(t, p, "a's side never saw a reject")
	eidle, ex, ey := eniOf(t, d, idle.id), eniOf(t, d, x.id), eniOf(t, d, y.id)
	nodata := 0
	for _, l := range lines {
		assert.Equal(t, "2", l["version"])
		assert.Equal(t, api.OperatorAccount, l["account-id"])
		assert.NotContains(t, []string{ex, ey}, l["interface-id"], "another VPC's interface in this VPC's log: %v", l)
		if l["interface-id"] == eidle {
			assert.Equal(t, "NODATA", l["log-status"], "the idle interface: %v", l)
			nodata++
		}
	}
	assert.NotZero(t, nodata, "NODATA for the idle interface")

	for _, l := range readFlowLog(t, rejects) {
		assert.Equal(t, eb, l["interface-id"])
		assert.Contains(t, []string{"REJECT", "-"}, l["action"])
	}
	p, by := sumFlow(readFlowLog(t, rejects), eb, a.ip, b.ip, "7001", "REJECT")
	assert.Equal(t, m, p)
	assert.Equal(t, m*size, by)

	traffic := describe(t, d, a.id).NetworkInterfaces[0].Traffic
	require.NotNil(t, traffic)
	assert.Equal(t, uint64(n+m+k), traffic.PacketsOut, "describe: what a sent")
	assert.Equal(t, uint64((n+m+k)*size), traffic.BytesOut)
	assert.Equal(t, uint64(n), describe(t, d, b.id).NetworkInterfaces[0].Traffic.PacketsIn, "describe: what b was given")

	var all api.DescribeFlowLogsResponse
	d.JSON(&all, "flow-log", "describe")
	assert.Len(t, all.FlowLogs, 2)
	d.JSON(&api.ReturnResponse{}, "flow-log", "delete", fl.FlowLogId)
	d.JSON(&all, "flow-log", "describe")
	assert.Len(t, all.FlowLogs, 1)
}

// Past the datapath's room for flow records, a flood's interval says SKIPDATA instead of
// dropping records silently; describe's counters still count every packet.
func TestFlowLogSkipData(t *testing.T) {
	d := hostdtest.Start(t, "--flow-records", "16")
	vpc, subnets := createVpc(t, d, "10.44.0.0/16", "10.44.1.0/24")
	a := launchIn(t, d, subnets[0])
	b := launchIn(t, d, subnets[0])
	path := filepath.Join(d.Dir, "skip.log")
	d.JSON(&api.FlowLog{}, "flow-log", "create", "--resource", vpc, "--traffic-type", "ALL", "--interval", "2s", "--destination", path)
	d.MustExec(a.id, "hostd", "probe", "send", "--proto", "udp", "--dst-ip", b.ip, "--count", "500", "--flows")
	time.Sleep(hostdtest.Scaled(5 * time.Second))
	ea := eniOf(t, d, a.id)
	skipped := false
	for _, l := range readFlowLog(t, path) {
		skipped = skipped || l["interface-id"] == ea && l["log-status"] == "SKIPDATA"
	}
	assert.True(t, skipped, "SKIPDATA for the flooder's interface")
	assert.Equal(t, uint64(500), describe(t, d, a.id).NetworkInterfaces[0].Traffic.PacketsOut, "every packet counted")
}

// Bad requests are refused with EC2's codes and make nothing.
func TestFlowLogRefusals(t *testing.T) {
	d := hostdtest.Start(t)
	vpc, _ := createVpc(t, d, "10.45.0.0/16", "10.45.1.0/24")
	for _, c := range []struct {
		code string
		args []string
	}{
		{api.CodeInvalidParameterValue, []string{"--resource", vpc, "--traffic-type", "SOME", "--destination", "x.log"}},
		{api.CodeInvalidParameterValue, []string{"--resource", vpc, "--traffic-type", "ALL", "--interval", "0s", "--destination", "x.log"}},
		{api.CodeInvalidParameterValue, []string{"--resource", vpc, "--traffic-type", "ALL", "--interval", "601s", "--destination", "x.log"}},
		{api.CodeInvalidParameterValue, []string{"--resource", vpc, "--traffic-type", "ALL", "--destination", "../x.log"}},
		{api.CodeInvalidParameterValue, []string{"--resource", vpc, "--traffic-type", "ALL", "--destination", "/nonexistent/dir/x.log"}},
		{api.CodeInvalidVpcNotFound, []string{"--resource", "vpc-0123456789abcdef0", "--traffic-type", "ALL", "--destination", "x.log"}},
		{api.CodeInvalidNetworkInterfaceNotFound, []string{"--resource", "eni-0123456789abcdef0", "--traffic-type", "ALL", "--destination", "x.log"}},
		{api.CodeInvalidParameterValue, []string{"--resource", "i-0123456789abcdef0", "--traffic-type", "ALL", "--destination", "x.log"}},
		{api.CodeMissingParameter, []string{"--resource", vpc, "--traffic-type", "ALL"}},
	} {
		_, stderr, code := d.Run(append([]string{"flow-log", "create"}, c.args...)...)
		assert.Equal(t, 1, code, "%v", c.args)
		got, _ := hostdtest.ErrorOf(t, stderr)
		assert.Equal(t, c.code, got, "%v: %s", c.args, stderr)
	}
	var all api.DescribeFlowLogsResponse
	d.JSON(&all, "flow-log", "describe")
	assert.Empty(t, all.FlowLogs)
	_, stderr, _ := d.Run("flow-log", "delete", "fl-0123456789abcdef0")
	got, _ := hostdtest.ErrorOf(t, stderr)
	assert.Equal(t, api.CodeInvalidFlowLogNotFound, got)
}
