package main_test

import (
	"encoding/json"
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
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hostd/hostd/bpf"
	"github.com/hostd/hostd/hostd/api"
	"github.com/hostd/hostd/hostd/hostdtest"
)

// netInstance is an instance with an interface.
type netInstance struct{ id, ip, mac string }

func createVpc(t *testing.T, d *hostdtest.Daemon, cidr string, subnets ...string) (string, []string) {
	t.Helper()
	var vpc api.Vpc
	d.JSON(&vpc, "vpc", "create", "--cidr", cidr)
	var ids []string
	for _, c := range subnets {
		var s api.Subnet
		d.JSON(&s, "subnet", "create", "--vpc", vpc.VpcId, "--cidr", c)
		ids = append(ids, s.SubnetId)
	}
	return vpc.VpcId, ids
}

func launchIn(t *testing.T, d *hostdtest.Daemon, subnet string, args ...string) netInstance {
	t.Helper()
	var out api.RunInstanceResponse
	d.JSON(&out, append(append([]string{"instance", "run", "--subnet", subnet}, args...), "--", "sleep", "1000")...)
	require.NotEmpty(t, out.PrivateIpAddress)
	return netInstance{id: out.InstanceId, ip: out.PrivateIpAddress, mac: out.MacAddress}
}

// listen starts a one-shot listener in inst and returns a function that waits for it and
// returns what it received ("" if nothing arrived).
func listen(t *testing.T, d *hostdtest.Daemon, inst netInstance, proto string, port int) func() string {
	var wg sync.WaitGroup
	var got string
	wg.Add(1)
	go func() {
		defer wg.Done()
		out, _, code := d.Exec(inst.id, "hostd", "probe", "listen", "--proto", proto, "--port", fmt.Sprint(port), "--timeout", hostdtest.Scaled(2*time.Second).String())
		if code == 0 {
			var res struct{ Received string }
			if json.Unmarshal([]byte(out), &res) == nil {
				got = res.Received
			}
		}
	}()
	// Wait for the socket, not for a guess: under emulation (the kernel matrix) an exec takes seconds.
	bound := map[string]string{"tcp": tcpListen, "udp": udpBound}[proto]
	require.Eventually(t, func() bool { return socketIn(t, inst.id, proto, port, bound) }, hostdtest.Scaled(10*time.Second), 5*time.Millisecond, "the listener never bound")
	return func() string { wg.Wait(); return got }
}

// Socket states as /proc/net/tcp and /proc/net/udp number them.
const (
	tcpEstablished = "01"
	tcpListen      = "0A"
	udpBound       = "07"
)

// socketIn tells whether an instance's network namespace has a proto (tcp, udp) socket on local
// port in state, read from the host through its init's /proc/PID/net (found without the daemon,
// which some tests have killed).
func socketIn(t *testing.T, id, proto string, port int, state string) bool {
	pid := 0
	for _, p := range hostdtest.InstanceInits() {
		if p.ID == id {
			pid = p.Pid
		}
	}
	require.NotZero(t, pid, "no init of %s", id)
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/net/%s", pid, proto))
	require.NoError(t, err)
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) > 3 && strings.HasSuffix(f[1], fmt.Sprintf(":%04X", port)) && f[3] == state {
			return true
		}
	}
	return false
}

// reaches tells whether from gets a message to, and an answer back from, to over proto.
func reaches(t *testing.T, d *hostdtest.Daemon, from, to netInstance, proto string) bool {
	t.Helper()
	if proto == "icmp" {
		_, _, code := d.Exec(from.id, "hostd", "probe", "ping", "--addr", to.ip, "--timeout", "1s")
		return code == 0
	}
	wait := listen(t, d, to, proto, 7000)
	_, _, code := d.Exec(from.id, "hostd", "probe", "connect", "--proto", proto, "--addr", to.ip+":7000", "--message", "hi", "--timeout", "1s")
	return wait() == "hi" && code == 0
}

// arrives has from send one crafted UDP frame (probe send with sendArgs) to `to` while `to`
// listens on port, and returns what arrived ("" if nothing did).
func arrives(t *testing.T, d *hostdtest.Daemon, from, to netInstance, port int, sendArgs ...string) string {
	t.Helper()
	wait := listen(t, d, to, "udp", port)
	d.MustExec(from.id, append([]string{"hostd", "probe", "send", "--dst-ip", to.ip}, sendArgs...)...)
	return wait()
}

func drops(t *testing.T, d *hostdtest.Daemon, id string) map[string]uint64 {
	in := describe(t, d, id)
	require.Len(t, in.NetworkInterfaces, 1)
	return in.NetworkInterfaces[0].DropCounters
}

// liftChecks is the test-only switch of the negative controls: it sets IFACE_CHECKS_OFF on the
// interface with mac in the daemon's pinned datapath, so that the guest may send anything.
func liftChecks(t *testing.T, d *hostdtest.Daemon, mac string) {
	t.Helper()
	m, err := ebpf.LoadPinnedMap(filepath.Join("/sys/fs/bpf/hostd", d.Fabric, "ifaces"), nil)
	require.NoError(t, err)
	defer m.Close()
	want, err := net.ParseMAC(mac)
	require.NoError(t, err)
	var key uint32
	var val bpf.DatapathIface
	for it := m.Iterate(); it.Next(&key, &val); {
		if net.HardwareAddr(val.Mac[:]).String() == want.String() {
			val.Flags |= uint16(bpf.DatapathIfaceFlagIFACE_CHECKS_OFF)
			require.NoError(t, m.Put(key, val))
			return
		}
	}
	t.Fatalf("no datapath entry for %s", mac)
}

func TestConnectivityMatrix(t *testing.T) {
	d := hostdtest.Start(t)
	_, subnets := createVpc(t, d, "10.0.0.0/16", "10.0.1.0/24", "10.0.2.0/24")
	a := launchIn(t, d, subnets[0])
	b := launchIn(t, d, subnets[0])
	c := launchIn(t, d, subnets[1])
	// A second tenant's VPC with the very same CIDR and an address A's VPC also has.
	_, other := createVpc(t, d, "10.0.0.0/16", "10.0.1.0/24")
	dd := launchIn(t, d, other[0], "--private-ip", a.ip)
	e := launchIn(t, d, other[0], "--private-ip", "10.0.1.6")
	require.Equal(t, a.ip, dd.ip)

	for _, proto := range []string{"tcp", "udp", "icmp"} {
		assert.True(t, reaches(t, d, a, b, proto), "same subnet, %s", proto)
		assert.True(t, reaches(t, d, b, c, proto), "two subnets of one VPC, %s", proto)
		assert.True(t, reaches(t, d, dd, e, proto), "within the other VPC, %s", proto)
	}
	// Across VPCs nothing gets through, whatever the addresses.
	assert.False(t, reaches(t, d, a, e, "icmp"), "A reached the other VPC's 10.0.1.6")
	assert.False(t, reaches(t, d, dd, b, "icmp"), "the other VPC reached A's VPC's %s", b.ip)
	assert.False(t, reaches(t, d, e, b, "tcp"))
	assert.NotZero(t, drops(t, d, e.id)["no-route"])
	// B answering A never answered D, which has A's address in the other VPC.
	assert.True(t, reaches(t, d, b, a, "icmp"))
}

func TestSpoofedSourceIP(t *testing.T) {
	d := hostdtest.Start(t)
	_, subnets := createVpc(t, d, "10.1.0.0/16", "10.1.0.0/24")
	a, b := launchIn(t, d, subnets[0]), launchIn(t, d, subnets[0])
	// B's group admits the whole VPC, so that only the source check stands in the way.
	d.JSON(&api.AuthorizeSecurityGroupResponse{}, "sg", "authorize", "--group", describe(t, d, b.id).SecurityGroups[0].GroupId,
		"--ingress", "--protocol", "udp", "--port", "7001", "--cidr", "10.1.0.0/16")
	spoof := func() string {
		return arrives(t, d, a, b, 7001, "--proto", "udp", "--src-ip", "10.1.0.99", "--dport", "7001", "--payload", "forged")
	}
	assert.Equal(t, "", spoof(), "a packet from a forged source IP arrived")
	assert.NotZero(t, drops(t, d, a.id)["spoof-ip"])

	// Control: with the source/dest check off (as for a NAT instance) the same packet arrives.
	d.JSON(&api.ReturnResponse{}, "instance", "modify", a.id, "--source-dest-check=false")
	assert.Equal(t, false, *describe(t, d, a.id).SourceDestCheck)
	assert.Equal(t, "forged", spoof())
}

func TestSpoofedSourceMACAndDHCPServer(t *testing.T) {
	d := hostdtest.Start(t)
	_, subnets := createVpc(t, d, "10.2.0.0/16", "10.2.0.0/24")
	a, b := launchIn(t, d, subnets[0]), launchIn(t, d, subnets[0])
	forgedMAC := func() string {
		return arrives(t, d, a, b, 7002, "--proto", "udp", "--src-mac", "02:66:66:66:66:66", "--dport", "7002", "--payload", "forged-mac")
	}
	dhcpOffer := func() string {
		return arrives(t, d, a, b, 68, "--proto", "dhcp-offer", "--payload", "offer")
	}
	assert.Equal(t, "", forgedMAC())
	assert.Equal(t, "", dhcpOffer())
	counters := drops(t, d, a.id)
	assert.NotZero(t, counters["spoof-mac"])
	assert.NotZero(t, counters["dhcp-server"])

	// Control: with the checks lifted (a test-only switch in the pinned datapath), both arrive.
	liftChecks(t, d, a.mac)
	assert.Equal(t, "forged-mac", forgedMAC())
	assert.Equal(t, "offer", dhcpOffer())
}

// neighborMAC is what inst's neighbor table says ip's MAC is.
func neighborMAC(t *testing.T, out string) string {
	f := strings.Fields(out)
	for i, w := range f {
		if w == "lladdr" && i+1 < len(f) {
			return f[i+1]
		}
	}
	return ""
}

// ARP poisoning and sniffing. On a plain bridge (the control) an attacker's forged ARP reply
// redirects a victim's traffic and a promiscuous sniffer sees its neighbours' traffic; in hostd
// neither works.
func TestARPSpoofingAndSniffing(t *testing.T) {
	d := hostdtest.Start(t)
	_, subnets := createVpc(t, d, "10.3.0.0/16", "10.3.0.0/24")
	victim, peer, attacker := launchIn(t, d, subnets[0]), launchIn(t, d, subnets[0]), launchIn(t, d, subnets[0])
	d.MustExec(victim.id, "hostd", "probe", "ping", "--addr", peer.ip)
	before := neighborMAC(t, d.MustExec(victim.id, "ip", "neigh", "show", peer.ip))
	assert.Equal(t, "02:00:00:00:00:01", before, "the router's MAC answers for every address")
	time.Sleep(1100 * time.Millisecond) // past the neighbour table's locktime
	// A reply claiming the peer's address, to the victim; and a gratuitous ARP for it, to all.
	d.MustExec(attacker.id, "hostd", "probe", "send", "--proto", "arp", "--arp-op", "reply", "--src-ip", peer.ip, "--arp-target", victim.ip, "--dst-mac", victim.mac, "--count", "3")
	d.MustExec(attacker.id, "hostd", "probe", "send", "--proto", "arp", "--arp-op", "request", "--src-ip", peer.ip, "--arp-target", peer.ip, "--dst-mac", "ff:ff:ff:ff:ff:ff")
	assert.Equal(t, before, neighborMAC(t, d.MustExec(victim.id, "ip", "neigh", "show", peer.ip)), "the victim's neighbour table was poisoned")
	assert.GreaterOrEqual(t, drops(t, d, attacker.id)["spoof-arp"], uint64(4))

	// The attacker sniffs in promiscuous mode while victim and peer talk: it sees none of it.
	sniff := sniffWhile(t, d, attacker, func() {
		assert.True(t, reaches(t, d, victim, peer, "tcp"))
		d.MustExec(victim.id, "hostd", "probe", "ping", "--addr", peer.ip)
	})
	assert.True(t, sniff.Promiscuous)
	for _, f := range sniff.Flows {
		assert.False(t, strings.Contains(f.Src+f.Dst, victim.ip) && strings.Contains(f.Src+f.Dst, peer.ip), "the sniffer saw %s -> %s", f.Src, f.Dst)
	}

	t.Run("control: a plain bridge", func(t *testing.T) {
		br := hostdtest.NewBridge(t, 3)
		v, p, att := br.Hosts[0], br.Hosts[1], br.Hosts[2]

		// Sniffing: the attacker sees its neighbours talk.
		var sniffed string
		var wg sync.WaitGroup
		wg.Add(1)
		go func() { defer wg.Done(); sniffed, _ = br.Run(2, "probe", "sniff", "--seconds", "2") }()
		time.Sleep(300 * time.Millisecond)
		_, code := br.Run(0, "probe", "ping", "--addr", p.IP)
		require.Equal(t, 0, code)
		wg.Wait()
		for _, flow := range [][2]string{{v.IP, p.IP}, {p.IP, v.IP}} {
			assert.Contains(t, sniffed, fmt.Sprintf("\"Src\": \"%s\",\n            \"Dst\": \"%s\"", flow[0], flow[1]),
				"control: a sniffer on a shared segment should see its neighbours' traffic")
		}

		// ARP poisoning: a forged reply takes over the peer's address in the victim's table.
		assert.Equal(t, p.MAC, neighborMAC(t, br.Sh(0, "ip neigh show "+p.IP)))
		time.Sleep(1100 * time.Millisecond)
		_, code = br.Run(2, "probe", "send", "--proto", "arp", "--arp-op", "reply", "--src-ip", p.IP, "--arp-target", v.IP, "--dst-mac", v.MAC, "--count", "3")
		require.Equal(t, 0, code)
		assert.Equal(t, att.MAC, neighborMAC(t, br.Sh(0, "ip neigh show "+p.IP)), "control: the forged reply should poison the victim")
	})
}

// The datapath is pinned: with the daemon killed, traffic flows and spoofing is still dropped;
// the next daemon adopts the pins instead of loading anew.
func TestEnforcementWhileDaemonIsDead(t *testing.T) {
	d := hostdtest.Start(t)
	_, subnets := createVpc(t, d, "10.4.0.0/16", "10.4.0.0/24")
	a, b := launchIn(t, d, subnets[0]), launchIn(t, d, subnets[0])
	d.Kill()
	assert.True(t, reaches(t, d, a, b, "icmp"), "traffic stopped with the daemon")
	assert.True(t, reaches(t, d, a, b, "tcp"))
	assert.Equal(t, "", arrives(t, d, a, b, 7003, "--proto", "udp", "--src-ip", "10.4.0.99", "--dport", "7003"), "spoofing got through while the daemon was dead")

	d.Restart()
	assert.Contains(t, d.Log(), "adopted the pinned datapath")
	assert.NotContains(t, d.Log(), "removing an orphaned interface")
	assert.True(t, reaches(t, d, b, a, "tcp"))
	assert.NotZero(t, drops(t, d, a.id)["spoof-ip"], "counters survive the restart")
}

func runIP(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command("ip", args...)
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	_ = cmd.Run()
	return out.String(), errb.String(), cmd.ProcessState.ExitCode()
}

// A frame with one 802.1Q tag: the kernel moves the tag into the skb's metadata before the
// datapath runs, so the frame looks like plain IPv4; it is dropped all the same (vlan).
// Control: with the guest's checks lifted, the same frame reaches the peer, tag and all.
func TestSingleVLANTagIsDropped(t *testing.T) {
	d := hostdtest.Start(t)
	_, subnets := createVpc(t, d, "10.5.0.0/16", "10.5.0.0/24")
	a, b := launchIn(t, d, subnets[0]), launchIn(t, d, subnets[0]) // the default group: members admit each other
	tagged := func() {
		d.MustExec(a.id, "hostd", "probe", "send", "--dst-ip", b.ip, "--proto", "udp", "--dport", "7005", "--vlan", "5", "--count", "3")
	}
	assert.False(t, saw(sniffWhile(t, d, b, tagged), a.ip, "UDP"), "a VLAN-tagged frame arrived")
	assert.Equal(t, uint64(3), drops(t, d, a.id)["vlan"])

	liftChecks(t, d, a.mac)
	assert.True(t, saw(sniffWhile(t, d, b, tagged), a.ip, "UDP"), "control: with the checks lifted the tagged frame goes through")
}
