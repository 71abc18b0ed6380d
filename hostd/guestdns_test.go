package main_test

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/miekg/dns"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hostd/hostd/bpf"
	"github.com/hostd/hostd/hostd/api"
	"github.com/hostd/hostd/hostd/hostdtest"
	"github.com/hostd/hostd/vnet"
)

var netnsSeq int

// testNetns makes a network namespace of the test's own (t<pid>-NAME-N, with loopback up) and
// removes it when the test ends.
func testNetns(t *testing.T, name string) string {
	t.Helper()
	netnsSeq++
	ns := fmt.Sprintf("t%d-%s-%d", os.Getpid(), name, netnsSeq)
	_, errOut, code := runIP(t, "netns", "add", ns)
	require.Zero(t, code, errOut)
	t.Cleanup(func() { runIP(t, "netns", "del", ns) })
	nsSh(t, ns, "ip link set lo up")
	return ns
}

// nsSh runs a shell script in network namespace ns, which must succeed.
func nsSh(t *testing.T, ns, script string) string {
	t.Helper()
	out, err := exec.Command("ip", "netns", "exec", ns, "sh", "-ec", script).CombinedOutput()
	require.NoError(t, err, "%s: %s", script, out)
	return string(out)
}

// silentAddr makes 10.255.0.2 routable in ns, and silent: packets to it leave on a veth whose
// other end drops them, with no ARP to fail fast on.
const silentAddr = "10.255.0.2"

func makeSilent(t *testing.T, ns string) {
	nsSh(t, ns, `ip link add v0 type veth peer name v1
ip addr add 10.255.0.1/24 dev v0
ip link set v1 up
ip link set v0 up
ip neigh add `+silentAddr+` lladdr 02:00:00:00:00:99 dev v0`)
}

// unreachableUpstream are serve flags giving the resolver an upstream nobody answers, in a
// namespace of the test's own (the host's resolvers are never asked).
func unreachableUpstream(t *testing.T) []string {
	ns := testNetns(t, "silent")
	makeSilent(t, ns)
	return []string{"--dns-upstream", silentAddr, "--dns-upstream-netns", ns}
}

// upstreamName is what the test upstream answers: one name, everything else NXDOMAIN.
const (
	upstreamName = "upstream.test."
	upstreamIP   = "192.0.2.7"
)

// testUpstream starts a DNS server in a namespace of the test's own and returns the serve flags
// that make it the resolver's upstream.
func testUpstream(t *testing.T) []string {
	ns := testNetns(t, "up")
	nsSh(t, ns, "ip addr add 10.254.0.53/32 dev lo")
	var pc net.PacketConn
	require.NoError(t, vnet.InNetns("/run/netns/"+ns, func() (err error) {
		pc, err = net.ListenPacket("udp4", "10.254.0.53:53")
		return err
	}))
	srv := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, req *dns.Msg) {
		resp := new(dns.Msg)
		if q := req.Question[0]; strings.EqualFold(q.Name, upstreamName) && q.Qtype == dns.TypeA {
			resp.SetReply(req)
			resp.Answer = []dns.RR{&dns.A{Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 5}, A: net.ParseIP(upstreamIP)}}
		} else if strings.EqualFold(q.Name, upstreamName) {
			resp.SetReply(req)
		} else {
			resp.SetRcode(req, dns.RcodeNameError)
		}
		_ = w.WriteMsg(resp)
	})}
	go func() { _ = srv.ActivateAndServe() }()
	t.Cleanup(func() { _ = srv.Shutdown() })
	return []string{"--dns-upstream", "10.254.0.53", "--dns-upstream-netns", ns}
}

// getentHosts runs `getent hosts NAME` in a guest and returns the addresses (or names) it printed,
// or nil.
func getentHosts(d *hostdtest.Daemon, id, name string) []string {
	out, _, code := d.Exec(id, "getent", "hosts", name)
	if code != 0 {
		return nil
	}
	return strings.Fields(out)
}

// digShort runs dig +short with args in a guest (its resolv.conf's resolver) and returns the
// answers.
func digShort(t *testing.T, d *hostdtest.Daemon, id string, args ...string) []string {
	t.Helper()
	out := d.MustExec(id, append([]string{"dig", "+short", "+time=1", "+tries=1"}, args...)...)
	return strings.Fields(out)
}

// answersWithin polls url with curl run by poll (in a guest, or on the host) until it answers or
// limit passes, and returns how long that took.
func answersWithin(t *testing.T, limit time.Duration, poll func() bool) (time.Duration, bool) {
	t.Helper()
	start := time.Now()
	for time.Since(start) < limit {
		if poll() {
			return time.Since(start), true
		}
		time.Sleep(50 * time.Millisecond)
	}
	return time.Since(start), false
}

// The opening case of issue 14: python's http.server looks its own host name up before it
// listens. With the host's resolv.conf, whose resolver a guest cannot reach, that lookup waits
// out a DNS timeout; with the instance's own name files it is answered from /etc/hosts at once.
func TestServerInGuestAnswersNeighbourAtOnce(t *testing.T) {
	d := hostdtest.Start(t, unreachableUpstream(t)...)
	_, subnets := createVpc(t, d, "10.40.0.0/16", "10.40.1.0/24")
	client := launchIn(t, d, subnets[0])
	var server struct{ InstanceId, PrivateIpAddress string }
	d.JSON(&server, "instance", "run", "--subnet", subnets[0], "--", "python3", "-m", "http.server", "8080")
	took, ok := answersWithin(t, hostdtest.Scaled(5*time.Second), func() bool {
		_, _, code := d.Exec(client.id, "curl", "-sf", "-o", "/dev/null", "--max-time", "1", "http://"+server.PrivateIpAddress+":8080/")
		return code == 0
	})
	require.True(t, ok, "the server never answered")
	assert.Less(t, took, hostdtest.Scaled(time.Second), "the server answered only after %v", took)
	assert.Contains(t, d.MustExec(server.InstanceId, "cat", "/etc/hosts"), server.PrivateIpAddress+"\t"+server.InstanceId+" ")
	// Negative control: the same program on the host's side of the line, in namespaces of its
	// own whose resolv.conf names a server nobody answers and whose hosts file lacks its name,
	// as the guest's would without its own: it is not answering after a second.
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "resolv.conf"), []byte("nameserver 10.255.0.2\noptions timeout:2 attempts:1\n"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "hosts"), []byte("127.0.0.1 localhost\n"), 0o644))
	script := fmt.Sprintf(`set -e
mount --bind %[1]s/resolv.conf /etc/resolv.conf
mount --bind %[1]s/hosts /etc/hosts
hostname i-0control0000000
ip link set lo up
ip link add v0 type veth peer name v1 && ip addr add 10.255.0.1/24 dev v0 && ip link set v1 up && ip link set v0 up
ip neigh add 10.255.0.2 lladdr 02:00:00:00:00:99 dev v0
python3 -m http.server 8080 >/dev/null 2>&1 &
trap 'kill $!' EXIT
start=$(date +%%s%%N)
until curl -sf -o /dev/null --max-time 1 http://127.0.0.1:8080/; do sleep 0.05; done
echo $(( ($(date +%%s%%N) - start) / 1000000 ))`, dir)
	out, err := exec.Command("unshare", "--mount", "--uts", "--net", "--propagation", "private", "sh", "-c", script).CombinedOutput()
	require.NoError(t, err, "%s", out)
	var ms int
	_, err = fmt.Sscan(strings.TrimSpace(string(out)), &ms)
	require.NoError(t, err, "%s", out)
	assert.GreaterOrEqual(t, ms, 1000, "without its own name files the server still answered in %d ms: the control shows no stall", ms)
}

// DNS from inside guests with real tools: own and neighbour names (EC2's IP-based and
// resource-based forms) and their PTRs resolve; another VPC's do not, even with the same CIDR and
// the same addresses (each answers its own); an upstream name resolves through a test upstream
// in a namespace of its own. Control: each name another VPC is refused resolves in its own VPC.
func TestVPCDNSFromGuests(t *testing.T) {
	d := hostdtest.Start(t, testUpstream(t)...)
	_, subA := createVpc(t, d, "10.60.0.0/16", "10.60.1.0/24")
	_, subB := createVpc(t, d, "10.60.0.0/16", "10.60.1.0/24")
	a1, a2 := launchIn(t, d, subA[0]), launchIn(t, d, subA[0])
	b1 := launchIn(t, d, subB[0], "--private-ip", a1.ip)
	b2 := launchIn(t, d, subB[0], "--private-ip", a2.ip)
	ipName := func(ip string) string { return "ip-" + strings.ReplaceAll(ip, ".", "-") + ".ec2.internal" }

	assert.Equal(t, "nameserver 10.60.0.2", strings.Split(d.MustExec(a1.id, "grep", "^nameserver", "/etc/resolv.conf"), "\n")[0])
	for _, c := range []struct{ asker, peer, other netInstance }{{a1, a2, b2}, {b1, b2, a2}} {
		// Own names (files and DNS) and the neighbour's, by both forms, through getent (glibc),
		// python's socket and dig.
		assert.Equal(t, []string{c.asker.ip, c.asker.id, c.asker.id + ".ec2.internal", ipName(c.asker.ip), strings.TrimSuffix(ipName(c.asker.ip), ".ec2.internal")}, getentHosts(d, c.asker.id, c.asker.id))
		assert.Equal(t, []string{c.asker.ip}, digShort(t, d, c.asker.id, c.asker.id+".ec2.internal"))
		assert.Equal(t, []string{c.peer.ip, c.peer.id + ".ec2.internal"}, getentHosts(d, c.asker.id, c.peer.id+".ec2.internal"))
		assert.Equal(t, []string{c.peer.ip}, digShort(t, d, c.asker.id, ipName(c.peer.ip)))
		assert.Equal(t, []string{c.peer.ip}, digShort(t, d, c.asker.id, "+search", c.peer.id), "the search domain")
		assert.Equal(t, []string{c.peer.ip}, digShort(t, d, c.asker.id, "+tcp", ipName(c.peer.ip)))
		assert.Equal(t, []string{ipName(c.peer.ip) + "."}, digShort(t, d, c.asker.id, "-x", c.peer.ip))
		assert.Equal(t, c.peer.ip+" "+ipName(c.peer.ip), d.MustExec(c.asker.id, "python3", "-c",
			fmt.Sprintf("import socket; print(socket.gethostbyname(%q), socket.gethostbyaddr(%q)[0])", c.peer.id+".ec2.internal", c.peer.ip)))
		// The other VPC's instance, same CIDR, same address as the neighbour: unknown here.
		assert.Nil(t, getentHosts(d, c.asker.id, c.other.id+".ec2.internal"), "%s resolved the other VPC's %s", c.asker.id, c.other.id)
		assert.Empty(t, digShort(t, d, c.asker.id, c.other.id+".ec2.internal"))
		out := d.MustExec(c.asker.id, "dig", "+time=1", "+tries=1", c.other.id+".ec2.internal")
		assert.Contains(t, out, "status: NXDOMAIN")
		// Both resolver addresses answer.
		assert.Equal(t, []string{c.peer.ip}, digShort(t, d, c.asker.id, "@169.254.169.253", c.peer.id+".ec2.internal"))
		// Upstream names, through the test's upstream.
		assert.Contains(t, getentHosts(d, c.asker.id, strings.TrimSuffix(upstreamName, ".")), upstreamIP)
		assert.Equal(t, []string{upstreamIP}, digShort(t, d, c.asker.id, upstreamName))
		assert.Contains(t, d.MustExec(c.asker.id, "dig", "+time=1", "+tries=1", "nothing.test."), "status: NXDOMAIN")
	}
}

// With no upstream answering, a lookup fails within a second (SERVFAIL from the resolver, then
// the search domain's NXDOMAIN), never a stall. Control: the upstream really is silent: asked
// directly from its own namespace, it answers nothing in 2 s.
func TestDNSWithoutUpstreamFailsFast(t *testing.T) {
	silent := unreachableUpstream(t)
	d := hostdtest.Start(t, silent...)
	_, subnets := createVpc(t, d, "10.61.0.0/16", "10.61.1.0/24")
	a := launchIn(t, d, subnets[0])
	start := time.Now()
	_, _, code := d.Exec(a.id, "getent", "hosts", "unanswered.example.org")
	took := time.Since(start)
	assert.NotZero(t, code, "an unanswerable name resolved")
	assert.Less(t, took, hostdtest.Scaled(time.Second), "the failure took %v", took)
	assert.Contains(t, d.MustExec(a.id, "dig", "+time=2", "+tries=1", "unanswered.example.org"), "status: SERVFAIL")
	// An instance without a network fails at once too (its resolv.conf names loopback).
	lone := d.Launch("--", "sleep", "1000")
	start = time.Now()
	_, _, code = d.Exec(lone, "getent", "hosts", "unanswered.example.org")
	assert.NotZero(t, code)
	assert.Less(t, time.Since(start), hostdtest.Scaled(time.Second))

	out, err := exec.Command("ip", "netns", "exec", silent[3], "dig", "+time=2", "+tries=1", "@"+silentAddr, "example.org").CombinedOutput()
	assert.Error(t, err)
	assert.Contains(t, string(out), "timed out")
}

// setLinkLocalAllowance sets the services' per-interface allowance (DNS and metadata together) in
// the daemon's pinned datapath: the test-only switch of the floods' negative controls.
func setLinkLocalAllowance(t *testing.T, d *hostdtest.Daemon, pps uint32) {
	t.Helper()
	m, err := ebpf.LoadPinnedMap(filepath.Join("/sys/fs/bpf/hostd", d.Fabric, "svc_settings"), nil)
	require.NoError(t, err)
	defer m.Close()
	var cfg bpf.DatapathSvcConfig
	require.NoError(t, m.Lookup(uint32(0), &cfg))
	cfg.LinklocalPps = pps
	require.NoError(t, m.Put(uint32(0), cfg))
}

// floodScript has python send DNS queries to the VPC resolver as fast as it can for SECONDS and
// print how many it sent.
const floodScript = `import socket, struct, sys, time
q = struct.pack(">HHHHHH", 0x1234, 0x0100, 1, 0, 0, 0) + b"\x05flood\x03ec2\x08internal\x00\x00\x01\x00\x01"
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setblocking(False)
end, n = time.time() + float(sys.argv[2]), 0
while time.time() < end:
    try:
        s.sendto(q, (sys.argv[1], 53)); n += 1
    except BlockingIOError:
        pass
print(n)`

// lookupLatencies has a guest resolve its neighbour's name n times through dig and returns each
// query's time; a query that failed counts as a second.
func lookupLatencies(t *testing.T, d *hostdtest.Daemon, from, peer netInstance, n int) []time.Duration {
	script := fmt.Sprintf(`import subprocess, time
for i in range(%d):
    t = time.monotonic()
    r = subprocess.run(["dig", "+short", "+time=1", "+tries=1", %q], capture_output=True, text=True)
    print(int((time.monotonic() - t) * 1e6) if r.stdout.strip() == %q else 1000000)
    time.sleep(0.02)`, n, peer.id+".ec2.internal", peer.ip)
	var out []time.Duration
	for _, f := range strings.Fields(d.MustExec(from.id, "python3", "-c", script)) {
		var us int
		fmt.Sscan(f, &us)
		out = append(out, time.Duration(us)*time.Microsecond)
	}
	return out
}

// One guest flooding the resolver past its allowance (1024 packets a second, as EC2's) is cut
// off at its own interface and counted; its neighbour's lookups all succeed, no slower than a
// few milliseconds. Control: with the allowance raised, the same flood is not dropped.
func TestDNSFloodDoesNotSlowNeighbour(t *testing.T) {
	d := hostdtest.Start(t)
	_, subnets := createVpc(t, d, "10.62.0.0/16", "10.62.1.0/24")
	flooder, neighbour, peer := launchIn(t, d, subnets[0]), launchIn(t, d, subnets[0]), launchIn(t, d, subnets[0])
	quiet := median(lookupLatencies(t, d, neighbour, peer, 10))

	// flood has the flooder flood for 3 s while the neighbour looks up its peer 20 times.
	flood := func() (sent, dropped uint64, during []time.Duration) {
		before := drops(t, d, flooder.id)["linklocal_allowance_exceeded"]
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			fmt.Sscan(d.MustExec(flooder.id, "python3", "-c", floodScript, "10.62.0.2", "3"), &sent)
		}()
		time.Sleep(500 * time.Millisecond)
		during = lookupLatencies(t, d, neighbour, peer, 20)
		wg.Wait()
		dropped = drops(t, d, flooder.id)["linklocal_allowance_exceeded"] - before
		failed := 0
		for _, l := range during {
			if l >= time.Second {
				failed++
			}
		}
		t.Logf("neighbour's lookups: %v quiet, %v during a flood of %d queries (%d dropped); %d of %d failed", quiet, median(during), sent, dropped, failed, len(during))
		return sent, dropped, during
	}
	sent, dropped, during := flood()
	require.Greater(t, sent, uint64(3*2048), "the flood was too slow to test anything")
	// At most 1024 a second (and the window's edges) got through.
	assert.GreaterOrEqual(t, dropped, sent-4*uint64(vnet.LinkLocalPacketsPerSecond))
	for _, l := range during {
		assert.Less(t, l, hostdtest.Scaled(time.Second), "a neighbour's lookup failed during the flood")
	}
	assert.Less(t, median(during), quiet+hostdtest.Scaled(100*time.Millisecond))

	// Control: the allowance raised, nothing of the same flood is dropped (and, on this
	// machine, some of the neighbour's lookups time out: see the log).
	setLinkLocalAllowance(t, d, 1<<30)
	sent, dropped, _ = flood()
	assert.Zero(t, dropped, "the flood was dropped with the allowance raised (%d sent)", sent)
}

// The resolver outlives bad input: malformed and oversized packets get no answer or an error,
// and a good query after them is answered.
func TestDNSBadInput(t *testing.T) {
	d := hostdtest.Start(t)
	_, subnets := createVpc(t, d, "10.63.0.0/16", "10.63.1.0/24")
	a, b := launchIn(t, d, subnets[0]), launchIn(t, d, subnets[0])
	script := `import socket, os
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(0.5)
def ask(p):
    s.sendto(p, ("10.63.0.2", 53))
    try:
        return s.recv(65535)
    except socket.timeout:
        return b""
for p in [b"", b"\x00", os.urandom(11), b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\xff\xff", os.urandom(4000), b"\x12\x34\x01\x00\xff\xff" + os.urandom(60000)]:
    r = ask(p)
    print(len(r), r[3] & 15 if len(r) > 3 else -1)
t = socket.create_connection(("10.63.0.2", 53), timeout=2)
t.sendall(b"\xff\xff" + os.urandom(100))
t.close()
`
	out := d.MustExec(a.id, "python3", "-c", script)
	for _, line := range strings.Split(out, "\n") {
		var n, rcode int
		fmt.Sscan(line, &n, &rcode)
		assert.True(t, n == 0 || rcode == dns.RcodeFormatError, "a bad packet got answer %q", line)
	}
	assert.Equal(t, []string{b.ip}, digShort(t, d, a.id, b.id+".ec2.internal"))
}

// vpc modify's switches: hostnames off leaves names unanswered and forwarding on; support off
// refuses everything. Bad values and combinations are refused and change nothing.
func TestVPCDNSSwitches(t *testing.T) {
	d := hostdtest.Start(t)
	vpc, subnets := createVpc(t, d, "10.64.0.0/16", "10.64.1.0/24")
	a, b := launchIn(t, d, subnets[0]), launchIn(t, d, subnets[0])
	var vpcs api.DescribeVpcsResponse
	d.JSON(&vpcs, "vpc", "describe", vpc)
	assert.True(t, vpcs.Vpcs[0].EnableDnsSupport && vpcs.Vpcs[0].EnableDnsHostnames)
	status := func() string {
		out, _, _ := d.Exec(a.id, "dig", "+time=1", "+tries=1", b.id+".ec2.internal")
		for _, s := range []string{"NOERROR", "NXDOMAIN", "REFUSED", "SERVFAIL"} {
			if strings.Contains(out, "status: "+s) {
				return s
			}
		}
		return out
	}
	assert.Equal(t, "NOERROR", status())
	d.JSON(&api.ReturnResponse{}, "vpc", "modify", vpc, "--enable-dns-hostnames=false")
	assert.Equal(t, "NXDOMAIN", status())
	d.JSON(&api.ReturnResponse{}, "vpc", "modify", vpc, "--enable-dns-support=false")
	assert.Equal(t, "REFUSED", status())
	for _, bad := range [][]string{
		{"--enable-dns-hostnames=true"}, // support is off
		{"--enable-dns-support=true", "--enable-dns-hostnames=true"},
		{"--enable-dns-support=maybe"},
		{},
	} {
		_, errOut, code := d.Run(append([]string{"vpc", "modify", vpc}, bad...)...)
		assert.Equal(t, 1, code, "%v: %s", bad, errOut)
		c, _ := hostdtest.ErrorOf(t, errOut)
		assert.Contains(t, []string{api.CodeInvalidParameterValue, api.CodeInvalidParameterCombination}, c)
	}
	_, errOut, code := d.Run("vpc", "modify", "vpc-0123456789abcdef0", "--enable-dns-support=true")
	assert.Equal(t, 1, code)
	c, _ := hostdtest.ErrorOf(t, errOut)
	assert.Equal(t, api.CodeInvalidVpcNotFound, c)
	d.JSON(&vpcs, "vpc", "describe", vpc)
	assert.False(t, vpcs.Vpcs[0].EnableDnsSupport || vpcs.Vpcs[0].EnableDnsHostnames)
	// Switches are records: they survive a restart.
	d.Kill()
	d.Restart()
	assert.Equal(t, "REFUSED", status())
	d.JSON(&api.ReturnResponse{}, "vpc", "modify", vpc, "--enable-dns-support=true")
	d.JSON(&api.ReturnResponse{}, "vpc", "modify", vpc, "--enable-dns-hostnames=true")
	assert.Equal(t, "NOERROR", status())
}

// The services through hostd's own probes alone, for the kernel matrix's VMs (which have no dig,
// curl or python3): a guest resolves its neighbour by name and reads metadata with a token;
// another VPC's guest, at the same address, resolves nothing of the first VPC.
func TestGuestServicesThroughProbes(t *testing.T) {
	d := hostdtest.Start(t)
	_, subA := createVpc(t, d, "10.65.0.0/16", "10.65.1.0/24")
	_, subB := createVpc(t, d, "10.65.0.0/16", "10.65.1.0/24")
	a, a2 := launchIn(t, d, subA[0]), launchIn(t, d, subA[0])
	b := launchIn(t, d, subB[0], "--private-ip", a.ip)
	probeOK := func(id string, args ...string) bool {
		_, _, code := d.Exec(id, append([]string{"hostd", "probe"}, args...)...)
		return code == 0
	}
	assert.True(t, probeOK(a.id, "dns", "--addr", "10.65.0.2:53", "--name", a2.id+".ec2.internal", "--count", "3"))
	assert.True(t, probeOK(a.id, "dns", "--name", "ip-"+strings.ReplaceAll(a2.ip, ".", "-")+".ec2.internal", "--count", "3"))
	assert.False(t, probeOK(b.id, "dns", "--addr", "10.65.0.2:53", "--name", a2.id+".ec2.internal", "--count", "3"), "another VPC's name resolved")
	assert.True(t, probeOK(a.id, "metadata", "--seconds", "0.2"))
	assert.True(t, probeOK(b.id, "metadata", "--seconds", "0.2"))
}
