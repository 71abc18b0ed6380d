package vnet

import (
	"net"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hostd/hostd/bpf"
)

var resolverIP = net.IPv4(10, 0, 0, 2).To4()

// servicesDatapath is testDatapath with the guest's resolver and a services veth at ifindex 5.
func servicesDatapath(t *testing.T) *Datapath { return servicesDatapathOf(t, guest()) }

// servicesDatapathOf is servicesDatapath with in as the guest's interface.
func servicesDatapathOf(t *testing.T, in Interface) *Datapath {
	in.Resolver = resolverIP
	dp := testDatapath(t, in)
	cfg := bpf.DatapathSvcConfig{Ifindex: 5, LinklocalPps: LinkLocalPacketsPerSecond}
	copy(cfg.Mac[:], servicesMAC)
	require.NoError(t, dp.put(dp.maps.SvcSettings, uint32(0), cfg))
	return dp
}

// checksummed tells whether a frame's IPv4 header and UDP checksums are right: each sums, in
// ones' complement, to all ones (the UDP one over its pseudo-header too).
func checksummed(b []byte) bool {
	sum := func(words []byte, start uint32) uint16 {
		for i := 0; i+1 < len(words); i += 2 {
			start += uint32(words[i])<<8 | uint32(words[i+1])
		}
		if len(words)%2 == 1 {
			start += uint32(words[len(words)-1]) << 8
		}
		for start > 0xffff {
			start = start&0xffff + start>>16
		}
		return uint16(start)
	}
	ip := b[14:34]
	udpLen := int(b[34+4])<<8 | int(b[34+5])
	pseudo := append(append([]byte{}, ip[12:20]...), 0, ip[9], byte(udpLen>>8), byte(udpLen))
	return sum(ip, 0) == 0xffff && sum(b[34:34+udpLen], uint32(sum(pseudo, 0))) == 0xffff
}

func addrs(t *testing.T, b []byte) (src, dst net.IP, srcMAC, dstMAC net.HardwareAddr) {
	p := gopacket.NewPacket(b, layers.LayerTypeEthernet, gopacket.Default)
	eth, ip := p.Layer(layers.LayerTypeEthernet).(*layers.Ethernet), p.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
	require.NotNil(t, ip)
	return ip.SrcIP, ip.DstIP, eth.SrcMAC, eth.DstMAC
}

// A query to the VPC's resolver leaves tagged with its interface (100.64.0.0/10 + ifindex 1),
// to the services' address and MAC, its checksums right; the answer comes back as from the
// resolver the guest asked, to the guest. Answers to no flow, and what is no service's, go
// nowhere.
func TestServicesTagAndRestore(t *testing.T) {
	dp := servicesDatapath(t)
	verdict, out := run(t, dp.progs.FromGuest, udpFrame(t, guestMAC, routerMAC, guestIP, resolverIP, 5000, 53))
	require.Equal(t, uint32(actRedirect), verdict)
	src, dst, srcMAC, dstMAC := addrs(t, out)
	assert.Equal(t, "100.64.0.1", src.String())
	assert.Equal(t, DNSAddr.String(), dst.String())
	assert.Equal(t, routerMAC, srcMAC)
	assert.Equal(t, servicesMAC, dstMAC)
	assert.True(t, checksummed(out), "checksums wrong after the rewrite")
	out[30] ^= 1 // the check itself: one bit of the destination changed, and it says so
	assert.False(t, checksummed(out))

	answer := udpFrame(t, servicesMAC, routerMAC, DNSAddr.AsSlice(), net.IPv4(100, 64, 0, 1), 53, 5000)
	verdict, out = run(t, dp.progs.FromServices, answer)
	require.Equal(t, uint32(actRedirect), verdict)
	src, dst, srcMAC, dstMAC = addrs(t, out)
	assert.Equal(t, resolverIP.String(), src.String(), "the answer comes from the address asked")
	assert.Equal(t, guestIP.String(), dst.String())
	assert.Equal(t, routerMAC, srcMAC)
	assert.Equal(t, guestMAC, dstMAC)
	assert.True(t, checksummed(out))

	for name, f := range map[string][]byte{
		"an answer to no flow":         udpFrame(t, servicesMAC, routerMAC, DNSAddr.AsSlice(), net.IPv4(100, 64, 0, 1), 53, 5001),
		"an answer to no interface":    udpFrame(t, servicesMAC, routerMAC, DNSAddr.AsSlice(), net.IPv4(100, 64, 0, 77), 53, 5000),
		"to an address that is no tag": udpFrame(t, servicesMAC, routerMAC, DNSAddr.AsSlice(), guestIP, 53, 5000),
	} {
		verdict, _ = run(t, dp.progs.FromServices, f)
		assert.Equal(t, uint32(actShot), verdict, name)
	}
	// The metadata service keeps its address; other ports and protocols of it are no service.
	ip := &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Protocol: layers.IPProtocolTCP, SrcIP: guestIP, DstIP: MetadataAddr.AsSlice()}
	tcp := &layers.TCP{SrcPort: 40000, DstPort: 80, SYN: true, Window: 1024}
	require.NoError(t, tcp.SetNetworkLayerForChecksum(ip))
	verdict, out = run(t, dp.progs.FromGuest, frame(t, &layers.Ethernet{SrcMAC: guestMAC, DstMAC: routerMAC, EthernetType: layers.EthernetTypeIPv4}, ip, tcp))
	require.Equal(t, uint32(actRedirect), verdict)
	src, dst, _, _ = addrs(t, out)
	assert.Equal(t, "100.64.0.1", src.String())
	assert.Equal(t, MetadataAddr.String(), dst.String())
	verdict, _ = run(t, dp.progs.FromGuest, udpFrame(t, guestMAC, routerMAC, guestIP, MetadataAddr.AsSlice(), 5000, 80))
	assert.Equal(t, uint32(actShot), verdict, "UDP to the metadata service")
	verdict, _ = run(t, dp.progs.FromGuest, udpFrame(t, guestMAC, routerMAC, guestIP, DNSAddr.AsSlice(), 5000, 54))
	assert.Equal(t, uint32(actShot), verdict, "another port of the resolver")
	assert.NotZero(t, dp.Drops(1)["no-route"])
}

// Past 1024 packets to the services in a second, DNS and metadata together, an interface's are
// dropped and counted. (Were the metadata service's packets not counted, half the flood would pass
// whatever the allowance: more than two seconds' worth.) Control: with the allowance raised, none
// is dropped.
func TestServicesLinkLocalAllowance(t *testing.T) {
	dp := servicesDatapath(t)
	ip := &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Protocol: layers.IPProtocolTCP, SrcIP: guestIP, DstIP: MetadataAddr.AsSlice()}
	syn := &layers.TCP{SrcPort: 40000, DstPort: 80, SYN: true, Window: 1024}
	require.NoError(t, syn.SetNetworkLayerForChecksum(ip))
	packets := [][]byte{
		udpFrame(t, guestMAC, routerMAC, guestIP, resolverIP, 5000, 53),
		frame(t, &layers.Ethernet{SrcMAC: guestMAC, DstMAC: routerMAC, EthernetType: layers.EthernetTypeIPv4}, ip, syn),
	}
	assertAllowanceHolds(t, dp, func(i int) []byte { return packets[i%2] })
}

// A guest with its source/dest check off cannot spread a flood over many allowances by forging
// sources and ports: the allowance is its interface's, whatever the packets say. Control: with
// the allowance raised, every forged query is steered to the resolver (none is dropped as spoofed).
func TestServicesAllowanceHoldsForForgedSources(t *testing.T) {
	in := guest()
	in.SourceDestCheck = false
	dp := servicesDatapathOf(t, in)
	assertAllowanceHolds(t, dp, func(i int) []byte {
		forged := net.IPv4(10, 99, byte(i>>8), byte(i)).To4()
		return udpFrame(t, guestMAC, routerMAC, forged, resolverIP, uint16(1024+i), 53)
	})
}

// assertAllowanceHolds sends 3,100 packets to the services from the guest (packet gives the
// i-th): more than three seconds' allowance, in a run that crosses at most one second boundary,
// so at most two seconds' worth may pass, and every one held back is counted. Control: with
// the allowance raised, all pass.
func assertAllowanceHolds(t *testing.T, dp *Datapath, packet func(i int) []byte) {
	t.Helper()
	const sent = 3100
	flood := func() (passed int) {
		for i := range sent {
			if v, _ := run(t, dp.progs.FromGuest, packet(i)); v == actRedirect {
				passed++
			}
		}
		return passed
	}
	passed := flood()
	assert.LessOrEqual(t, passed, 2*int(LinkLocalPacketsPerSecond))
	assert.Equal(t, uint64(sent-passed), dp.Drops(1)["linklocal_allowance_exceeded"])

	cfg := bpf.DatapathSvcConfig{Ifindex: 5, LinklocalPps: 1 << 30}
	copy(cfg.Mac[:], servicesMAC)
	require.NoError(t, dp.put(dp.maps.SvcSettings, uint32(0), cfg))
	assert.Equal(t, sent, flood())
}
