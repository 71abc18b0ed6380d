package probe

import (
	"fmt"
	"net"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"golang.org/x/sys/unix"
)

// Frame describes a frame to craft. Zero fields take the interface's own values, so that a
// well-formed frame is the default and a spoofed one is what the caller asks for.
type Frame struct {
	Proto   string // udp, tcp-syn, icmp, arp, dhcp-offer
	SrcMAC  net.HardwareAddr
	DstMAC  net.HardwareAddr
	SrcIP   net.IP
	DstIP   net.IP
	SrcPort uint16
	DstPort uint16
	ARPOp   uint16 // layers.ARPRequest or layers.ARPReply
	// ARPTarget is the address asked about (request) or told to (reply).
	ARPTarget net.IP
	Payload   []byte
}

// Build serializes f.
func (f Frame) Build() ([]byte, error) {
	eth := &layers.Ethernet{SrcMAC: f.SrcMAC, DstMAC: f.DstMAC, EthernetType: layers.EthernetTypeIPv4}
	ip := &layers.IPv4{Version: 4, IHL: 5, TTL: 64, SrcIP: f.SrcIP.To4(), DstIP: f.DstIP.To4(), Id: 4242}
	var ls []gopacket.SerializableLayer
	switch f.Proto {
	case "udp", "dhcp-offer":
		ip.Protocol = layers.IPProtocolUDP
		udp := &layers.UDP{SrcPort: layers.UDPPort(f.SrcPort), DstPort: layers.UDPPort(f.DstPort)}
		if f.Proto == "dhcp-offer" {
			udp.SrcPort, udp.DstPort = 67, 68
		}
		if err := udp.SetNetworkLayerForChecksum(ip); err != nil {
			return nil, err
		}
		ls = []gopacket.SerializableLayer{eth, ip, udp, gopacket.Payload(f.Payload)}
	case "tcp-syn":
		ip.Protocol = layers.IPProtocolTCP
		tcp := &layers.TCP{SrcPort: layers.TCPPort(f.SrcPort), DstPort: layers.TCPPort(f.DstPort), SYN: true, Seq: 1000, Window: 64240}
		if err := tcp.SetNetworkLayerForChecksum(ip); err != nil {
			return nil, err
		}
		ls = []gopacket.SerializableLayer{eth, ip, tcp}
	case "icmp":
		ip.Protocol = layers.IPProtocolICMPv4
		icmp := &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(layers.ICMPv4TypeEchoRequest, 0), Id: 7, Seq: 1}
		ls = []gopacket.SerializableLayer{eth, ip, icmp, gopacket.Payload(f.Payload)}
	case "arp":
		eth.EthernetType = layers.EthernetTypeARP
		arp := &layers.ARP{AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4, HwAddressSize: 6, ProtAddressSize: 4,
			Operation: f.ARPOp, SourceHwAddress: f.SrcMAC, SourceProtAddress: f.SrcIP.To4(),
			DstHwAddress: make([]byte, 6), DstProtAddress: f.ARPTarget.To4()}
		if f.ARPOp == layers.ARPReply {
			arp.DstHwAddress = f.DstMAC
		}
		ls = []gopacket.SerializableLayer{eth, arp}
	default:
		return nil, fmt.Errorf("unknown protocol %q: use udp, tcp-syn, icmp, arp or dhcp-offer", f.Proto)
	}
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// Send writes frame count times on the interface, raw: the kernel adds nothing and checks nothing.
func Send(ifc *net.Interface, frame []byte, count int) error {
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("raw socket (needs CAP_NET_RAW): %w", err)
	}
	defer unix.Close(fd)
	addr := &unix.SockaddrLinklayer{Ifindex: ifc.Index, Halen: 6}
	copy(addr.Addr[:], frame[0:6])
	for range count {
		if err := unix.Sendto(fd, frame, 0, addr); err != nil {
			return err
		}
	}
	return nil
}
