package probe

import (
	"net"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var (
	srcMAC = net.HardwareAddr{2, 0xaa, 0, 0, 0, 5}
	srcIP  = net.IPv4(10, 0, 0, 5).To4()
	dstIP  = net.IPv4(10, 0, 0, 6).To4()
)

// gopacketFrame serializes the same frame with gopacket, the reference.
func gopacketFrame(t *testing.T, ls ...gopacket.SerializableLayer) []byte {
	buf := gopacket.NewSerializeBuffer()
	require.NoError(t, gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...))
	return buf.Bytes()
}

func ipv4(proto layers.IPProtocol) *layers.IPv4 {
	return &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Id: 4242, Protocol: proto, SrcIP: srcIP, DstIP: dstIP}
}

func eth(t layers.EthernetType) *layers.Ethernet {
	return &layers.Ethernet{SrcMAC: srcMAC, DstMAC: RouterMAC, EthernetType: t}
}

// Every frame the probe builds is byte for byte what gopacket builds from the same fields,
// checksums included.
func TestFramesMatchGopacket(t *testing.T) {
	payload := []byte("hostd-probe!") // odd and even lengths both matter to a checksum
	base := Frame{SrcMAC: srcMAC, DstMAC: RouterMAC, SrcIP: srcIP, DstIP: dstIP, SrcPort: 40000, DstPort: 7001}

	udp := base
	udp.Proto, udp.Payload = "udp", payload[:11]
	ip := ipv4(layers.IPProtocolUDP)
	u := &layers.UDP{SrcPort: 40000, DstPort: 7001}
	require.NoError(t, u.SetNetworkLayerForChecksum(ip))
	want := gopacketFrame(t, eth(layers.EthernetTypeIPv4), ip, u, gopacket.Payload(payload[:11]))
	got, err := udp.Build()
	require.NoError(t, err)
	assert.Equal(t, want, got, "udp")

	dhcp := udp
	dhcp.Proto = "dhcp-offer"
	ip = ipv4(layers.IPProtocolUDP)
	u = &layers.UDP{SrcPort: 67, DstPort: 68}
	require.NoError(t, u.SetNetworkLayerForChecksum(ip))
	got, err = dhcp.Build()
	require.NoError(t, err)
	assert.Equal(t, gopacketFrame(t, eth(layers.EthernetTypeIPv4), ip, u, gopacket.Payload(payload[:11])), got, "dhcp-offer")

	syn := base
	syn.Proto = "tcp-syn"
	ip = ipv4(layers.IPProtocolTCP)
	tcp := &layers.TCP{SrcPort: 40000, DstPort: 7001, SYN: true, Seq: 1000, Window: 64240}
	require.NoError(t, tcp.SetNetworkLayerForChecksum(ip))
	got, err = syn.Build()
	require.NoError(t, err)
	assert.Equal(t, gopacketFrame(t, eth(layers.EthernetTypeIPv4), ip, tcp), got, "tcp-syn")

	icmp := base
	icmp.Proto, icmp.Payload = "icmp", payload
	got, err = icmp.Build()
	require.NoError(t, err)
	assert.Equal(t, gopacketFrame(t, eth(layers.EthernetTypeIPv4), ipv4(layers.IPProtocolICMPv4),
		&layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(layers.ICMPv4TypeEchoRequest, 0), Id: 7, Seq: 1}, gopacket.Payload(payload)), got, "icmp")

	for _, op := range []uint16{ARPRequest, ARPReply} {
		arp := base
		arp.Proto, arp.ARPOp, arp.ARPTarget = "arp", op, dstIP
		tha := make([]byte, 6)
		if op == ARPReply {
			tha = RouterMAC
		}
		got, err = arp.Build()
		require.NoError(t, err)
		assert.Equal(t, gopacketFrame(t, eth(layers.EthernetTypeARP), &layers.ARP{AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4,
			HwAddressSize: 6, ProtAddressSize: 4, Operation: op, SourceHwAddress: srcMAC, SourceProtAddress: srcIP,
			DstHwAddress: tha, DstProtAddress: dstIP}), got, "arp op %d", op)
	}

	// A port unreachable quoting a datagram's IP and UDP headers, then bytes of its own.
	quoted := base
	quoted.Proto, quoted.SrcIP, quoted.DstIP = "udp", dstIP, srcIP
	unreach := base
	unreach.Proto, unreach.Quote, unreach.Payload = "unreachable", &quoted, payload
	qip := &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Id: 4242, Protocol: layers.IPProtocolUDP, SrcIP: dstIP, DstIP: srcIP}
	qudp := &layers.UDP{SrcPort: 40000, DstPort: 7001}
	require.NoError(t, qudp.SetNetworkLayerForChecksum(qip))
	quote := gopacketFrame(t, qip, qudp)
	got, err = unreach.Build()
	require.NoError(t, err)
	assert.Equal(t, gopacketFrame(t, eth(layers.EthernetTypeIPv4), ipv4(layers.IPProtocolICMPv4),
		&layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(layers.ICMPv4TypeDestinationUnreachable, layers.ICMPv4CodePort)},
		gopacket.Payload(append(quote, payload...))), got, "unreachable")

	// A VLAN tag between the MACs and the ethertype.
	tagged := udp
	tagged.VLAN = 5
	ip = ipv4(layers.IPProtocolUDP)
	u = &layers.UDP{SrcPort: 40000, DstPort: 7001}
	require.NoError(t, u.SetNetworkLayerForChecksum(ip))
	got, err = tagged.Build()
	require.NoError(t, err)
	assert.Equal(t, gopacketFrame(t, eth(layers.EthernetTypeDot1Q), &layers.Dot1Q{VLANIdentifier: 5, Type: layers.EthernetTypeIPv4}, ip, u, gopacket.Payload(payload[:11])), got, "vlan")

	_, err = Frame{Proto: "gre", SrcMAC: srcMAC, DstMAC: RouterMAC, SrcIP: srcIP, DstIP: dstIP}.Build()
	assert.Error(t, err)
	_, err = Frame{Proto: "udp", SrcMAC: srcMAC, DstMAC: RouterMAC}.Build()
	assert.Error(t, err)
}

func TestClassify(t *testing.T) {
	udp, err := Frame{Proto: "udp", SrcMAC: srcMAC, DstMAC: RouterMAC, SrcIP: srcIP, DstIP: dstIP}.Build()
	require.NoError(t, err)
	assert.Equal(t, Flow{Src: "10.0.0.5", Dst: "10.0.0.6", Proto: "UDP"}, classify(udp))
	arp, err := Frame{Proto: "arp", ARPOp: ARPRequest, SrcMAC: srcMAC, DstMAC: RouterMAC, SrcIP: srcIP, ARPTarget: dstIP}.Build()
	require.NoError(t, err)
	assert.Equal(t, Flow{Src: "10.0.0.5", Dst: "10.0.0.6", Proto: "ARP"}, classify(arp))
	assert.Equal(t, "runt", classify(udp[:10]).Proto)
	assert.Equal(t, "ethertype 0x0800", classify(udp[:20]).Proto, "an IPv4 frame too short for its header")
}

// Frames gives each frame a new flow when asked: source ports count up, then destination ports.
func TestFramesOfNewFlows(t *testing.T) {
	f := Frame{Proto: "udp", SrcMAC: srcMAC, DstMAC: RouterMAC, SrcIP: srcIP, DstIP: dstIP, SrcPort: 65534, DstPort: 9}
	next := Frames(f, 3, true)
	var ports [][2]uint16
	for {
		frame, err := next()
		require.NoError(t, err)
		if frame == nil {
			break
		}
		p := gopacket.NewPacket(frame, layers.LayerTypeEthernet, gopacket.Default).Layer(layers.LayerTypeUDP).(*layers.UDP)
		ports = append(ports, [2]uint16{uint16(p.SrcPort), uint16(p.DstPort)})
	}
	assert.Equal(t, [][2]uint16{{65534, 9}, {65535, 9}, {0, 10}}, ports)
}
