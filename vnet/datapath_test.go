package vnet

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hostd/hostd/firewall"
	"github.com/hostd/hostd/hostd/hostdtest"
)

// tc verdicts
const (
	actOK       = 0
	actShot     = 2
	actRedirect = 7
)

var (
	guestMAC = net.HardwareAddr{0x02, 0xaa, 0, 0, 0, 5}
	peerMAC  = net.HardwareAddr{0x02, 0xaa, 0, 0, 0, 6}
	guestIP  = net.IPv4(10, 0, 0, 5).To4()
	peerIP   = net.IPv4(10, 0, 0, 6).To4()
	subnet   = &net.IPNet{IP: net.IPv4(10, 0, 0, 0).To4(), Mask: net.CIDRMask(24, 32)}
)

// testDatapath loads a datapath of its own and describes one guest on ifindex 1: under
// BPF_PROG_TEST_RUN, a program sees the loopback device as its interface.
func testDatapath(t testing.TB, in Interface) *Datapath {
	t.Helper()
	hostdtest.RequireRoot(t)
	fabric := fmt.Sprintf("dptest%d", os.Getpid())
	// Registered first: a load that fails half way (a program the verifier refuses) leaves the
	// maps it pinned.
	var dp *Datapath
	t.Cleanup(func() {
		if dp != nil {
			dp.Close()
		}
		require.NoError(t, DeleteDatapath(fabric))
	})
	dp, err := LoadDatapath(fabric)
	require.NoError(t, err)
	// Everyone in one subnet, in a group that lets everything in and out: these tests are about
	// what the datapath does before and after the firewall (firewall_test.go is about it).
	all := []firewall.Rule{{Protocol: firewall.AllProtocols, From: -1, To: -1, CIDR: netip.MustParsePrefix("0.0.0.0/0")}}
	openPolicy, err = dp.LoadPolicy(7, []*firewall.SecurityGroup{{ID: "sg-open", Ingress: all, Egress: all}}, nil)
	require.NoError(t, err)
	in.Policy = openPolicy
	require.NoError(t, dp.SetInterface(1, in))
	// A peer in the same VPC (on some other host end), and one with the same address in VPC 8.
	require.NoError(t, dp.SetInterface(99, Interface{VPC: 7, IP: peerIP, Subnet: subnet, MAC: peerMAC, SourceDestCheck: true, Policy: openPolicy}))
	require.NoError(t, dp.SetInterface(98, Interface{VPC: 8, IP: net.IPv4(10, 0, 0, 7).To4(), Subnet: subnet, MAC: peerMAC, SourceDestCheck: true, Policy: openPolicy}))
	return dp
}

// openPolicy is the rule set testDatapath loaded: every interface of these tests uses it.
var openPolicy uint32

func guest() Interface {
	return Interface{VPC: 7, IP: guestIP, Subnet: subnet, MAC: guestMAC, SourceDestCheck: true, Policy: openPolicy}
}

func frame(t *testing.T, ls ...gopacket.SerializableLayer) []byte {
	t.Helper()
	buf := gopacket.NewSerializeBuffer()
	require.NoError(t, gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...))
	return buf.Bytes()
}

func udpFrame(t *testing.T, srcMAC, dstMAC net.HardwareAddr, src, dst net.IP, sport, dport uint16) []byte {
	udp := &layers.UDP{SrcPort: layers.UDPPort(sport), DstPort: layers.UDPPort(dport)}
	ip := &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Protocol: layers.IPProtocolUDP, SrcIP: src, DstIP: dst}
	require.NoError(t, udp.SetNetworkLayerForChecksum(ip))
	return frame(t, &layers.Ethernet{SrcMAC: srcMAC, DstMAC: dstMAC, EthernetType: layers.EthernetTypeIPv4}, ip, udp, gopacket.Payload("hello"))
}

func arpFrame(t *testing.T, op uint16, sha net.HardwareAddr, spa, tpa net.IP) []byte {
	return frame(t,
		&layers.Ethernet{SrcMAC: guestMAC, DstMAC: layers.EthernetBroadcast, EthernetType: layers.EthernetTypeARP},
		&layers.ARP{AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4, HwAddressSize: 6, ProtAddressSize: 4,
			Operation: op, SourceHwAddress: sha, SourceProtAddress: spa, DstHwAddress: make([]byte, 6), DstProtAddress: tpa})
}

// run runs prog on data and returns the verdict and the frame as the program left it.
func run(t *testing.T, prog *ebpf.Program, data []byte) (uint32, []byte) {
	t.Helper()
	out := make([]byte, len(data)+256)
	ret, err := prog.Run(&ebpf.RunOptions{Data: data, DataOut: out})
	require.NoError(t, err)
	return ret, out[:len(data)]
}

func TestFromGuestVerdicts(t *testing.T) {
	dp := testDatapath(t, guest())
	from := dp.progs.FromGuest
	good := udpFrame(t, guestMAC, routerMAC, guestIP, peerIP, 5000, 53)
	ipStart := 14

	withIP := func(mut func(b []byte)) []byte {
		b := append([]byte(nil), good...)
		mut(b)
		return b
	}
	cases := []struct {
		name    string
		data    []byte
		verdict uint32
		reason  string
	}{
		{"IPv4 to a peer of the same VPC", good, actRedirect, ""},
		{"to an address only another VPC has", udpFrame(t, guestMAC, routerMAC, guestIP, net.IPv4(10, 0, 0, 7), 5000, 53), actShot, "no-route"},
		{"to an address nobody has", udpFrame(t, guestMAC, routerMAC, guestIP, net.IPv4(10, 0, 0, 9), 5000, 53), actShot, "no-route"},
		{"spoofed source IP", udpFrame(t, guestMAC, routerMAC, net.IPv4(10, 0, 0, 99), peerIP, 5000, 53), actShot, "spoof-ip"},
		{"spoofed source MAC", udpFrame(t, peerMAC, routerMAC, guestIP, peerIP, 5000, 53), actShot, "spoof-mac"},
		{"DHCP server reply", udpFrame(t, guestMAC, routerMAC, guestIP, peerIP, 67, 68), actShot, "dhcp-server"},
		{"broadcast", udpFrame(t, guestMAC, layers.EthernetBroadcast, guestIP, peerIP, 5000, 53), actShot, "broadcast"},
		{"multicast", udpFrame(t, guestMAC, net.HardwareAddr{0x01, 0, 0x5e, 0, 0, 1}, guestIP, peerIP, 5000, 53), actShot, "broadcast"},
		{"IP header length below 5 words", withIP(func(b []byte) { b[ipStart] = 0x44 }), actShot, "malformed"},
		{"IP header longer than the frame", withIP(func(b []byte) { b[ipStart] = 0x4f }), actShot, "malformed"},
		{"not IPv4 inside an IPv4 ethertype", withIP(func(b []byte) { b[ipStart] = 0x65 }), actShot, "malformed"},
		{"truncated UDP header", good[:ipStart+20+4], actShot, "malformed"},
		{"IP options are forwarded", ipWithOptions(t), actRedirect, ""},
		{"first fragment is forwarded", withIP(func(b []byte) { b[ipStart+6] = 0x20 }), actRedirect, ""},
		// A later fragment has no UDP header: its bytes where ports would be are payload. It
		// follows its first fragment (same addresses, protocol and IP id).
		{"later fragment follows its first", laterFragment(t), actRedirect, ""},
		{"later fragment without a first", withIP(func(b []byte) { b[ipStart+4] = 0x77; b[ipStart+7] = 185 }), actShot, "frag"},
		{"VLAN-tagged", vlanFrame(t), actShot, "vlan"},
		{"IPv6", ipv6Frame(t), actShot, "ipv6"},
		{"unknown ethertype", withIP(func(b []byte) { b[12], b[13] = 0x88, 0xb5 }), actShot, "ethertype"},
		{"ARP reply claiming a peer's address", arpFrame(t, layers.ARPReply, guestMAC, peerIP, peerIP), actShot, "spoof-arp"},
		{"gratuitous ARP for a peer's address", arpFrame(t, layers.ARPRequest, guestMAC, peerIP, peerIP), actShot, "spoof-arp"},
		{"ARP with another sender MAC", arpFrame(t, layers.ARPRequest, peerMAC, guestIP, peerIP), actShot, "spoof-arp"},
		{"truncated ARP", arpFrame(t, layers.ARPRequest, guestMAC, guestIP, peerIP)[:30], actShot, "malformed"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := dp.Drops(1)
			verdict, _ := run(t, from, c.data)
			assert.Equal(t, c.verdict, verdict)
			after := dp.Drops(1)
			if c.reason != "" {
				assert.Equal(t, before[c.reason]+1, after[c.reason], "drop not counted as %s: %v", c.reason, after)
			} else {
				assert.Equal(t, before, after)
			}
		})
	}
}

// BPF_PROG_TEST_RUN refuses a frame of the IPv4 ethertype shorter than a whole IP header, so
// that truncation cannot be fed to the program here; the header-length cases above reach the
// same bounds checks.
func TestTestRunRefusesTruncatedIPHeader(t *testing.T) {
	dp := testDatapath(t, guest())
	good := udpFrame(t, guestMAC, routerMAC, guestIP, peerIP, 5000, 53)
	_, err := dp.progs.FromGuest.Run(&ebpf.RunOptions{Data: good[:14+19], DataOut: make([]byte, 64)})
	assert.Error(t, err)
}

func TestForwardRewritesMACs(t *testing.T) {
	dp := testDatapath(t, guest())
	verdict, out := run(t, dp.progs.FromGuest, udpFrame(t, guestMAC, routerMAC, guestIP, peerIP, 5000, 53))
	require.Equal(t, uint32(actRedirect), verdict)
	assert.Equal(t, peerMAC, net.HardwareAddr(out[0:6]), "destination MAC")
	assert.Equal(t, routerMAC, net.HardwareAddr(out[6:12]), "source MAC")
}

func TestARPIsAnsweredWithTheRoutersMAC(t *testing.T) {
	dp := testDatapath(t, guest())
	for _, target := range []net.IP{net.IPv4(10, 0, 0, 1), peerIP, net.IPv4(10, 0, 0, 200)} {
		verdict, out := run(t, dp.progs.FromGuest, arpFrame(t, layers.ARPRequest, guestMAC, guestIP, target.To4()))
		require.Equal(t, uint32(actRedirect), verdict, "request for %s", target)
		p := gopacket.NewPacket(out, layers.LayerTypeEthernet, gopacket.Default)
		arp, ok := p.Layer(layers.LayerTypeARP).(*layers.ARP)
		require.True(t, ok)
		assert.Equal(t, uint16(layers.ARPReply), arp.Operation)
		assert.Equal(t, []byte(routerMAC), arp.SourceHwAddress)
		assert.Equal(t, []byte(target.To4()), arp.SourceProtAddress)
		assert.Equal(t, []byte(guestMAC), arp.DstHwAddress)
		assert.Equal(t, []byte(guestIP), arp.DstProtAddress)
		assert.Equal(t, guestMAC, net.HardwareAddr(out[0:6]))
	}
	// Outside the subnet there is nothing to answer, and nothing goes anywhere else either.
	verdict, _ := run(t, dp.progs.FromGuest, arpFrame(t, layers.ARPRequest, guestMAC, guestIP, net.IPv4(192, 168, 1, 1).To4()))
	assert.Equal(t, uint32(actShot), verdict)
}

// The negative controls: each check lifted, the same frame goes through.
func TestChecksCanBeLifted(t *testing.T) {
	noSDCheck := guest()
	noSDCheck.SourceDestCheck = false
	dp := testDatapath(t, noSDCheck)
	verdict, _ := run(t, dp.progs.FromGuest, udpFrame(t, guestMAC, routerMAC, net.IPv4(10, 0, 0, 99), peerIP, 5000, 53))
	assert.Equal(t, uint32(actRedirect), verdict, "source/dest check off: a foreign source IP passes")
	verdict, _ = run(t, dp.progs.FromGuest, udpFrame(t, peerMAC, routerMAC, guestIP, peerIP, 5000, 53))
	assert.Equal(t, uint32(actShot), verdict, "source/dest check off still checks the MAC")

	off := guest()
	off.ChecksOff = true
	require.NoError(t, dp.SetInterface(1, off))
	for name, data := range map[string][]byte{
		"spoofed MAC": udpFrame(t, peerMAC, routerMAC, guestIP, peerIP, 5000, 53),
		"spoofed IP":  udpFrame(t, guestMAC, routerMAC, net.IPv4(10, 0, 0, 99), peerIP, 5000, 53),
		"DHCP server": udpFrame(t, guestMAC, routerMAC, guestIP, peerIP, 67, 68),
	} {
		verdict, _ := run(t, dp.progs.FromGuest, data)
		assert.Equal(t, uint32(actRedirect), verdict, "%s with checks off", name)
	}
}

func TestToGuestDeliversOnlyWhatIsAddressedToIt(t *testing.T) {
	dp := testDatapath(t, guest())
	to := dp.progs.ToGuest
	cases := map[string]struct {
		data    []byte
		verdict uint32
	}{
		"to its MAC and IP":   {udpFrame(t, routerMAC, guestMAC, peerIP, guestIP, 53, 5000), actOK},
		"to another MAC":      {udpFrame(t, routerMAC, peerMAC, peerIP, guestIP, 53, 5000), actShot},
		"broadcast":           {udpFrame(t, routerMAC, layers.EthernetBroadcast, peerIP, guestIP, 53, 5000), actShot},
		"its MAC, another IP": {udpFrame(t, routerMAC, guestMAC, guestIP, peerIP, 53, 5000), actShot},
		"IPv6 to its MAC":     {ipv6FrameTo(t, guestMAC), actShot},
	}
	for name, c := range cases {
		verdict, _ := run(t, to, c.data)
		assert.Equal(t, c.verdict, verdict, name)
	}
}

func ipWithOptions(t *testing.T) []byte {
	udp := &layers.UDP{SrcPort: 5000, DstPort: 53}
	ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolUDP, SrcIP: guestIP, DstIP: peerIP,
		Options: []layers.IPv4Option{{OptionType: 1}, {OptionType: 1}, {OptionType: 1}, {OptionType: 0}}}
	require.NoError(t, udp.SetNetworkLayerForChecksum(ip))
	b := frame(t, &layers.Ethernet{SrcMAC: guestMAC, DstMAC: routerMAC, EthernetType: layers.EthernetTypeIPv4}, ip, udp, gopacket.Payload("x"))
	require.Equal(t, byte(0x46), b[14], "IHL 6")
	return b
}

func laterFragment(t *testing.T) []byte {
	ip := &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Protocol: layers.IPProtocolUDP, SrcIP: guestIP, DstIP: peerIP, FragOffset: 185}
	// Payload bytes that would read as source port 67 if taken for a UDP header.
	return frame(t, &layers.Ethernet{SrcMAC: guestMAC, DstMAC: routerMAC, EthernetType: layers.EthernetTypeIPv4}, ip, gopacket.Payload{0, 67, 0, 68, 1, 2, 3, 4})
}

func vlanFrame(t *testing.T) []byte {
	ip := &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Protocol: layers.IPProtocolUDP, SrcIP: guestIP, DstIP: peerIP}
	return frame(t, &layers.Ethernet{SrcMAC: guestMAC, DstMAC: routerMAC, EthernetType: layers.EthernetTypeDot1Q},
		&layers.Dot1Q{VLANIdentifier: 5, Type: layers.EthernetTypeIPv4}, ip, gopacket.Payload("x"))
}

func ipv6Frame(t *testing.T) []byte {
	return frame(t, &layers.Ethernet{SrcMAC: guestMAC, DstMAC: routerMAC, EthernetType: layers.EthernetTypeIPv6},
		&layers.IPv6{Version: 6, NextHeader: layers.IPProtocolNoNextHeader, HopLimit: 64, SrcIP: net.ParseIP("fe80::1"), DstIP: net.ParseIP("fe80::2")})
}

func ipv6FrameTo(t *testing.T, dst net.HardwareAddr) []byte {
	return frame(t, &layers.Ethernet{SrcMAC: routerMAC, DstMAC: dst, EthernetType: layers.EthernetTypeIPv6},
		&layers.IPv6{Version: 6, NextHeader: layers.IPProtocolNoNextHeader, HopLimit: 64, SrcIP: net.ParseIP("fe80::1"), DstIP: net.ParseIP("fe80::2")})
}
