package probe

import (
	"encoding/binary"
	"fmt"
	"net"
)

// Frames are built and read by hand here rather than with gopacket's layers: that package spends
// about 5 ms building its tables in init, in every process of the binary, and every instance's
// init is this binary. The tests check the bytes against gopacket's.

// ARP operations.
const (
	ARPRequest = 1
	ARPReply   = 2
)

// Frame describes a frame to craft. Zero fields take the interface's own values (the caller
// fills them in), so a well-formed frame is the default and a spoofed one is asked for.
type Frame struct {
	Proto   string // udp, tcp-syn, icmp, unreachable, arp, dhcp-offer
	SrcMAC  net.HardwareAddr
	DstMAC  net.HardwareAddr
	SrcIP   net.IP
	DstIP   net.IP
	SrcPort uint16
	DstPort uint16
	ARPOp   uint16
	// ARPTarget is the address asked about (request) or told to (reply).
	ARPTarget net.IP
	// Quote is, for an ICMP port unreachable, the UDP datagram it reports on (its addresses and
	// ports; its IP header and UDP header are quoted); Payload follows the quote.
	Quote *Frame
	// VLAN, if not 0, tags the frame with an 802.1Q header of that VLAN id.
	VLAN    uint16
	Payload []byte
}

const (
	etherTypeIPv4 = 0x0800
	etherTypeARP  = 0x0806
	etherTypeVLAN = 0x8100
	protoICMP     = 1
	protoTCP      = 6
	protoUDP      = 17
)

// minFrame is Ethernet's shortest frame without its checksum; shorter ones are padded with zeros.
const minFrame = 60

// Build serializes f.
func (f Frame) Build() ([]byte, error) {
	b, err := f.build()
	if err == nil && f.VLAN != 0 {
		tag := make([]byte, 4)
		binary.BigEndian.PutUint16(tag[0:], etherTypeVLAN)
		binary.BigEndian.PutUint16(tag[2:], f.VLAN&0x0fff)
		b = append(b[:12:12], append(tag, b[12:]...)...)
	}
	for err == nil && len(b) < minFrame {
		b = append(b, 0)
	}
	return b, err
}

func (f Frame) build() ([]byte, error) {
	if len(f.SrcMAC) != 6 || len(f.DstMAC) != 6 {
		return nil, fmt.Errorf("source and destination MACs are required")
	}
	eth := make([]byte, 14)
	copy(eth[0:6], f.DstMAC)
	copy(eth[6:12], f.SrcMAC)
	if f.Proto == "arp" {
		binary.BigEndian.PutUint16(eth[12:], etherTypeARP)
		return append(eth, f.arp()...), nil
	}
	binary.BigEndian.PutUint16(eth[12:], etherTypeIPv4)
	src, dst := f.SrcIP.To4(), f.DstIP.To4()
	if src == nil || dst == nil {
		return nil, fmt.Errorf("source and destination IPv4 addresses are required")
	}
	var proto byte
	var l4 []byte
	switch f.Proto {
	case "udp", "dhcp-offer":
		sport, dport := f.SrcPort, f.DstPort
		if f.Proto == "dhcp-offer" {
			sport, dport = 67, 68
		}
		proto, l4 = protoUDP, make([]byte, 8, 8+len(f.Payload))
		binary.BigEndian.PutUint16(l4[0:], sport)
		binary.BigEndian.PutUint16(l4[2:], dport)
		binary.BigEndian.PutUint16(l4[4:], uint16(8+len(f.Payload)))
		l4 = append(l4, f.Payload...)
		binary.BigEndian.PutUint16(l4[6:], transportChecksum(src, dst, proto, l4))
	case "tcp-syn":
		proto, l4 = protoTCP, make([]byte, 20)
		binary.BigEndian.PutUint16(l4[0:], f.SrcPort)
		binary.BigEndian.PutUint16(l4[2:], f.DstPort)
		binary.BigEndian.PutUint32(l4[4:], 1000) // sequence number
		l4[12] = 5 << 4                          // data offset: 5 words
		l4[13] = 0x02                            // SYN
		binary.BigEndian.PutUint16(l4[14:], 64240)
		binary.BigEndian.PutUint16(l4[16:], transportChecksum(src, dst, proto, l4))
	case "icmp":
		proto, l4 = protoICMP, echoRequest(7, 1, f.Payload)
	case "unreachable":
		if f.Quote == nil {
			return nil, fmt.Errorf("an ICMP port unreachable needs the datagram it quotes")
		}
		quoted, err := f.Quote.build()
		if err != nil {
			return nil, fmt.Errorf("the quoted datagram: %w", err)
		}
		proto, l4 = protoICMP, portUnreachable(quoted[14:14+20+8], f.Payload)
	default:
		return nil, fmt.Errorf("unknown protocol %q: use udp, tcp-syn, icmp, unreachable, arp or dhcp-offer", f.Proto)
	}
	ip := make([]byte, 20)
	ip[0] = 0x45 // version 4, 5 words
	binary.BigEndian.PutUint16(ip[2:], uint16(20+len(l4)))
	binary.BigEndian.PutUint16(ip[4:], 4242) // identification
	ip[8], ip[9] = 64, proto                 // TTL, protocol
	copy(ip[12:16], src)
	copy(ip[16:20], dst)
	binary.BigEndian.PutUint16(ip[10:], checksum(ip, 0))
	return append(append(eth, ip...), l4...), nil
}

func (f Frame) arp() []byte {
	a := make([]byte, 28)
	binary.BigEndian.PutUint16(a[0:], 1) // Ethernet
	binary.BigEndian.PutUint16(a[2:], etherTypeIPv4)
	a[4], a[5] = 6, 4
	binary.BigEndian.PutUint16(a[6:], f.ARPOp)
	copy(a[8:14], f.SrcMAC)
	copy(a[14:18], f.SrcIP.To4())
	if f.ARPOp == ARPReply {
		copy(a[18:24], f.DstMAC)
	}
	copy(a[24:28], f.ARPTarget.To4())
	return a
}

// echoRequest is an ICMP echo request.
func echoRequest(id, seq uint16, payload []byte) []byte {
	m := make([]byte, 8, 8+len(payload))
	m[0] = 8 // echo request
	binary.BigEndian.PutUint16(m[4:], id)
	binary.BigEndian.PutUint16(m[6:], seq)
	m = append(m, payload...)
	binary.BigEndian.PutUint16(m[2:], checksum(m, 0))
	return m
}

// portUnreachable is an ICMP destination unreachable (port) quoting a datagram's headers, with
// extra bytes after the quote.
func portUnreachable(quote, extra []byte) []byte {
	m := make([]byte, 8, 8+len(quote)+len(extra))
	m[0], m[1] = 3, 3 // destination unreachable, port
	m = append(append(m, quote...), extra...)
	binary.BigEndian.PutUint16(m[2:], checksum(m, 0))
	return m
}

// checksum is the Internet checksum (RFC 1071) of b, starting from sum.
func checksum(b []byte, sum uint32) uint16 {
	for i := 0; i+1 < len(b); i += 2 {
		sum += uint32(binary.BigEndian.Uint16(b[i:]))
	}
	if len(b)%2 == 1 {
		sum += uint32(b[len(b)-1]) << 8
	}
	for sum > 0xffff {
		sum = sum&0xffff + sum>>16
	}
	return ^uint16(sum)
}

// transportChecksum is a TCP or UDP checksum, over the IPv4 pseudo-header and segment (whose
// checksum field must be zero).
func transportChecksum(src, dst net.IP, proto byte, segment []byte) uint16 {
	pseudo := make([]byte, 12)
	copy(pseudo[0:4], src)
	copy(pseudo[4:8], dst)
	pseudo[9] = proto
	binary.BigEndian.PutUint16(pseudo[10:], uint16(len(segment)))
	var sum uint32
	for i := 0; i < 12; i += 2 {
		sum += uint32(binary.BigEndian.Uint16(pseudo[i:]))
	}
	c := checksum(segment, sum)
	if proto == protoUDP && c == 0 {
		return 0xffff // zero means "no checksum" in UDP
	}
	return c
}

// classify names a frame's endpoints and protocol, for the sniffer's summary.
func classify(frame []byte) Flow {
	if len(frame) < 14 {
		return Flow{Proto: "runt"}
	}
	f := Flow{Src: net.HardwareAddr(frame[6:12]).String(), Dst: net.HardwareAddr(frame[0:6]).String()}
	body := frame[14:]
	switch et := binary.BigEndian.Uint16(frame[12:]); {
	case et == etherTypeARP && len(body) >= 28:
		f.Src, f.Dst, f.Proto = net.IP(body[14:18]).String(), net.IP(body[24:28]).String(), "ARP"
	case et == etherTypeIPv4 && len(body) >= 20:
		f.Src, f.Dst = net.IP(body[12:16]).String(), net.IP(body[16:20]).String()
		f.Proto = map[byte]string{protoICMP: "ICMPv4", protoTCP: "TCP", protoUDP: "UDP"}[body[9]]
		if f.Proto == "" {
			f.Proto = fmt.Sprintf("IP proto %d", body[9])
		}
	case et == 0x86dd:
		f.Proto = "IPv6"
	default:
		f.Proto = fmt.Sprintf("ethertype 0x%04x", et)
	}
	return f
}
