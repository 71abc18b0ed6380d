package vnet

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hostd/hostd/bpf"
	"github.com/hostd/hostd/firewall"
	"github.com/hostd/hostd/hostd/hostdtest"
)

// The differential test: random security groups, network ACLs and sequences of packets, judged
// by the datapath (BPF_PROG_TEST_RUN) and by the oracle (firewall.Evaluator); the two must agree
// on every packet, conntrack, fragments and the full table included.

// world is one generated topology: four interfaces in two subnets of one VPC, their groups and
// the subnets' ACLs, in the datapath and in the oracle.
type world struct {
	vpc     uint32
	ends    []*endpoint
	groups  []*firewall.SecurityGroup
	acls    map[string]*firewall.NetworkACL
	members map[string]map[netip.Addr]bool
	sets    []uint32 // the rule sets it loaded
}

type endpoint struct {
	firewall.Endpoint
	ifindex int
	mac     net.HardwareAddr
	groups  []string
	subnet  uint32
	// sourceDestCheck off lets it send from addresses not its own.
	sourceDestCheck bool
}

var (
	diffAddrs = []string{"10.0.1.10", "10.0.1.11", "10.0.2.20", "10.0.2.21"}
	diffCIDRs = []string{"0.0.0.0/0", "10.0.0.0/16", "10.0.1.0/24", "10.0.2.0/24", "10.0.1.10/32", "10.0.2.16/28", "10.0.1.8/30", "192.168.0.0/16"}
	diffPorts = []int{22, 53, 80, 443, 1000, 5432}
	diffProto = []int{firewall.TCP, firewall.UDP, firewall.ICMP, firewall.AllProtocols, 47}
)

func pick[T any](r *rand.Rand, s []T) T { return s[r.IntN(len(s))] }

func randomRule(r *rand.Rand, groups int, withGroups bool) firewall.Rule {
	rule := firewall.Rule{Protocol: pick(r, diffProto), From: -1, To: -1}
	switch rule.Protocol {
	case firewall.TCP, firewall.UDP:
		rule.From = pick(r, diffPorts)
		rule.To = rule.From
		if r.IntN(3) == 0 {
			rule.To = rule.From + r.IntN(2000)
		}
		if r.IntN(8) == 0 {
			rule.From, rule.To = 0, 65535
		}
	case firewall.ICMP:
		switch r.IntN(3) {
		case 1:
			rule.From = pick(r, []int{0, 3, 8, 11})
		case 2:
			rule.From, rule.To = pick(r, []int{0, 3, 8, 11}), r.IntN(4)
		}
	}
	if withGroups && r.IntN(3) == 0 {
		rule.Group = fmt.Sprintf("sg-%d", 1+r.IntN(groups))
	} else {
		rule.CIDR = netip.MustParsePrefix(pick(r, diffCIDRs))
	}
	return rule
}

func randomACL(r *rand.Rand) *firewall.NetworkACL {
	switch r.IntN(10) {
	case 0, 1, 2, 3, 4:
		return firewall.DefaultACL()
	case 5:
		return &firewall.NetworkACL{} // a new ACL: denies all
	}
	acl := &firewall.NetworkACL{}
	for range 1 + r.IntN(8) {
		acl.Entries = append(acl.Entries, firewall.ACLEntry{
			Number: 1 + r.IntN(200), Egress: r.IntN(2) == 0, Allow: r.IntN(3) != 0, Rule: randomRule(r, 0, false),
		})
	}
	if r.IntN(2) == 0 { // allow the rest, as most real ACLs end
		all := firewall.DefaultACL().Entries
		all[0].Number, all[1].Number = 32000, 32000
		acl.Entries = append(acl.Entries, all...)
	}
	return acl
}

func newWorld(t *testing.T, dp *Datapath, r *rand.Rand, vpc uint32) *world {
	w := &world{vpc: vpc, acls: map[string]*firewall.NetworkACL{}, members: map[string]map[netip.Addr]bool{}}
	ngroups := 1 + r.IntN(4)
	for g := range ngroups {
		sg := &firewall.SecurityGroup{ID: fmt.Sprintf("sg-%d", g+1)}
		for range r.IntN(6) {
			sg.Ingress = append(sg.Ingress, randomRule(r, ngroups, true))
		}
		if r.IntN(2) == 0 { // a new group's outbound rule
			sg.Egress = append(sg.Egress, firewall.Rule{Protocol: firewall.AllProtocols, From: -1, To: -1, CIDR: netip.MustParsePrefix("0.0.0.0/0")})
		}
		for range r.IntN(4) {
			sg.Egress = append(sg.Egress, randomRule(r, ngroups, true))
		}
		w.groups = append(w.groups, sg)
		w.members[sg.ID] = map[netip.Addr]bool{}
	}
	number := func(id string) uint32 {
		var n uint32
		_, _ = fmt.Sscanf(id, "sg-%d", &n)
		return n
	}
	for _, subnet := range []uint32{1, 2} {
		acl := randomACL(r)
		w.acls[fmt.Sprint(subnet)] = acl
		set, err := dp.LoadACL(vpc, acl)
		require.NoError(t, err)
		w.sets = append(w.sets, set)
		require.NoError(t, dp.SetSubnetACL(subnetNumber(vpc, subnet), set))
	}
	for i, a := range diffAddrs {
		subnet := uint32(1 + i/2)
		e := &endpoint{ifindex: 101 + i, mac: net.HardwareAddr{2, 0xbb, 0, 0, byte(vpc), byte(i)}, subnet: subnet}
		e.Addr = netip.MustParseAddr(a)
		e.Subnet = fmt.Sprint(subnet)
		e.Router = netip.AddrFrom4([4]byte{10, 0, byte(subnet), 1})
		e.ConntrackAllowance = 1 + r.IntN(4)
		// The last one may send from any address, as a router would: errors from the router.
		e.sourceDestCheck = i != len(diffAddrs)-1
		e.ACL = w.acls[e.Subnet]
		var numbers []uint32
		for _, g := range r.Perm(ngroups)[:1+r.IntN(min(ngroups, 2))] {
			sg := w.groups[g]
			e.Groups = append(e.Groups, sg)
			e.groups = append(e.groups, sg.ID)
			numbers = append(numbers, number(sg.ID))
			w.members[sg.ID][e.Addr] = true
		}
		policy, err := dp.LoadPolicy(vpc, e.Groups, number)
		require.NoError(t, err)
		w.sets = append(w.sets, policy)
		require.NoError(t, dp.SetInterface(e.ifindex, e.iface(vpc, policy, numbers)))
		w.ends = append(w.ends, e)
	}
	return w
}

// subnetNumber numbers a world's two subnets apart from those of the worlds just before it.
func subnetNumber(vpc, subnet uint32) uint32 { return vpc%30000*2 + subnet }

// iface is the datapath entry of the endpoint (subnet numbers are per VPC here, as the daemon's
// are unique per host).
func (e *endpoint) iface(vpc, policy uint32, groups []uint32) Interface {
	_, subnet, _ := net.ParseCIDR(e.Addr.String() + "/24")
	return Interface{VPC: vpc, IP: e.Addr.AsSlice(), Subnet: subnet, MAC: e.mac, SourceDestCheck: e.sourceDestCheck,
		SubnetNumber: subnetNumber(vpc, e.subnet), Policy: policy, Groups: groups, ConntrackAllowance: uint32(e.ConntrackAllowance)}
}

// packetFrame builds the frame of p as the guest of src sends it.
func packetFrame(t *testing.T, src *endpoint, p firewall.Packet) []byte {
	ip := &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Protocol: layers.IPProtocol(p.Protocol), SrcIP: p.Src.AsSlice(), DstIP: p.Dst.AsSlice(),
		Id: p.FragID, FragOffset: uint16(p.FragOffset)}
	if p.MoreFrags {
		ip.Flags = layers.IPv4MoreFragments
	}
	ls := []gopacket.SerializableLayer{&layers.Ethernet{SrcMAC: src.mac, DstMAC: routerMAC, EthernetType: layers.EthernetTypeIPv4}, ip}
	switch {
	case p.FragOffset > 0:
		ls = append(ls, gopacket.Payload("later fragment"))
	case p.Protocol == firewall.TCP:
		tcp := &layers.TCP{SrcPort: layers.TCPPort(p.SrcPort), DstPort: layers.TCPPort(p.DstPort), SYN: p.SYN, ACK: p.ACK, FIN: p.FIN, RST: p.RST, Window: 1000}
		require.NoError(t, tcp.SetNetworkLayerForChecksum(ip))
		ls = append(ls, tcp)
	case p.Protocol == firewall.UDP:
		udp := &layers.UDP{SrcPort: layers.UDPPort(p.SrcPort), DstPort: layers.UDPPort(p.DstPort)}
		require.NoError(t, udp.SetNetworkLayerForChecksum(ip))
		ls = append(ls, udp, gopacket.Payload("x"))
	case p.Protocol == firewall.ICMP:
		ls = append(ls, &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(uint8(p.ICMPType), uint8(p.ICMPCode))})
		if p.Embedded != nil {
			ls = append(ls, gopacket.Payload(embedded(t, *p.Embedded)))
		}
	default:
		ls = append(ls, gopacket.Payload("other protocol"))
	}
	buf := gopacket.NewSerializeBuffer()
	require.NoError(t, gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...))
	frame := buf.Bytes()
	if p.TotalLength != 0 { // a length that lies
		binary.BigEndian.PutUint16(frame[14+2:], uint16(p.TotalLength))
	}
	return frame
}

// embedded is what an ICMP error quotes of p: its IP header, with p's header length (IP options
// of NOPs where it is over 5 words) and total length, and its first 8 bytes.
func embedded(t *testing.T, p firewall.Packet) []byte {
	whole := packetFrame(t, &endpoint{mac: guestMAC}, p)
	quote := append([]byte(nil), whole[14:14+20]...)
	for range max(p.IHL-5, 0) * 4 {
		quote = append(quote, 1) // NOP
	}
	if p.IHL != 0 {
		quote[0] = 0x40 | byte(p.IHL)
	}
	if p.IHL > 5 && p.TotalLength == 0 { // the options count in its length
		binary.BigEndian.PutUint16(quote[2:], binary.BigEndian.Uint16(quote[2:])+uint16(p.IHL-5)*4)
	}
	return append(quote, whole[14+20:14+20+8]...)
}

// judge runs p through the datapath and returns its verdict in the oracle's terms.
func (w *world) judge(t *testing.T, dp *Datapath, src, dst *endpoint, p firewall.Packet) string {
	before := w.drops(dp, dst)
	verdict, _ := runFrame(t, dp, packetFrame(t, src, p))
	after := w.drops(dp, dst)
	var reasons []string
	for r, n := range after {
		if n != before[r] {
			reasons = append(reasons, r)
		}
	}
	switch {
	case verdict == actRedirect && len(reasons) == 0:
		return firewall.Allowed
	case verdict == actShot && len(reasons) == 1:
		return reasons[0]
	}
	t.Fatalf("verdict %d with drops counted as %v", verdict, reasons)
	return ""
}

// drops sums the drop counters of the sender (on loopback) and the receiver.
func (w *world) drops(dp *Datapath, dst *endpoint) map[string]uint64 {
	sum := dp.Drops(1)
	for r, n := range dp.Drops(dst.ifindex) {
		sum[r] += n
	}
	return sum
}

func runFrame(t *testing.T, dp *Datapath, frame []byte) (uint32, error) {
	out := make([]byte, len(frame)+256)
	v, err := dp.progs.FromGuest.Run(&ebpf.RunOptions{Data: frame, DataOut: out})
	require.NoError(t, err)
	return v, err
}

// randomPacket makes the next packet of a sequence: often a reply to, or a repeat of, an earlier
// one, so that flows get tracked, answered, reset and expired.
func randomPacket(r *rand.Rand, w *world, history []sent) sent {
	if len(history) > 0 && r.IntN(2) == 0 {
		prev := pick(r, history)
		p := prev.p
		p.Embedded = nil
		src, dst := prev.src, prev.dst
		choice := r.IntN(4)
		if choice < 3 && p.Src != src.Addr {
			choice = 3 // sent from an address no interface has: nobody to answer it
		}
		switch choice {
		case 0, 1: // the reply
			src, dst = dst, src
			p.Src, p.Dst, p.SrcPort, p.DstPort = p.Dst, p.Src, p.DstPort, p.SrcPort
			p.ACK, p.FIN, p.RST = true, r.IntN(8) == 0, r.IntN(10) == 0 // a SYN is answered with a SYN-ACK
			if p.Protocol == firewall.ICMP && p.ICMPType == 8 {
				p.ICMPType = 0
			}
		case 2: // an ICMP error about it, most often from its receiver back to its sender
			q := prev.p
			q.FragOffset, q.MoreFrags, q.Embedded, q.IHL, q.TotalLength = 0, false, nil, 0, 0
			src, dst = dst, src
			p = firewall.Packet{Protocol: firewall.ICMP, Src: q.Dst, Dst: q.Src, ICMPType: pick(r, []int{3, 11}), ICMPCode: r.IntN(4)}
			switch r.IntN(8) {
			case 0: // from a third party, naming others' flow: the smuggling attack
				src = pick(r, w.ends)
				dst = pick(r, w.ends)
				if src == dst {
					dst = w.ends[(slices.Index(w.ends, src)+1)%len(w.ends)]
				}
				p.Src, p.Dst = src.Addr, dst.Addr
			case 1: // from the router of the receiver's subnet, sent by the one that may
				src = w.ends[len(w.ends)-1]
				if src == dst {
					break
				}
				p.Src = dst.Router
			case 2: // quoting a packet that is not whole, or with IP options
				switch r.IntN(4) {
				case 0:
					q.IHL = 4
				case 1:
					q.IHL = 6
				case 2:
					q.TotalLength = 27
				case 3:
					q.FragOffset = 185
				}
			case 3: // claiming to be shorter than its quote
				p.TotalLength = 20 + 8 + 20 + 7
			}
			p.Embedded = &q
		case 3: // more of the same flow
			p.SYN = p.SYN && r.IntN(2) == 0
			p.ACK = !p.SYN || r.IntN(2) == 0
		}
		if p.MoreFrags && r.IntN(2) == 0 { // a later fragment of it
			p.MoreFrags, p.FragOffset = false, 185
		}
		return sent{p: p, src: src, dst: dst}
	}
	i := r.IntN(len(w.ends))
	j := (i + 1 + r.IntN(len(w.ends)-1)) % len(w.ends)
	src, dst := w.ends[i], w.ends[j]
	p := firewall.Packet{Protocol: pick(r, []int{firewall.TCP, firewall.UDP, firewall.ICMP, 47}), Src: src.Addr, Dst: dst.Addr}
	switch p.Protocol {
	case firewall.TCP:
		p.SrcPort, p.DstPort = 30000+r.IntN(4), pick(r, diffPorts)
		p.SYN, p.ACK = r.IntN(4) != 0, r.IntN(4) == 0
	case firewall.UDP:
		p.SrcPort, p.DstPort = 30000+r.IntN(4), pick(r, diffPorts)
	case firewall.ICMP:
		p.ICMPType, p.ICMPCode = pick(r, []int{8, 0, 3, 11, 5}), r.IntN(2)
	}
	if r.IntN(6) == 0 {
		p.MoreFrags, p.FragID = true, uint16(1+r.IntN(3))
	}
	return sent{p: p, src: src, dst: dst}
}

type sent struct {
	p        firewall.Packet
	src, dst *endpoint
}

// runWorld generates one world and one sequence of packets from seed and compares the verdicts.
func runWorld(t *testing.T, dp *Datapath, seed uint64, vpc uint32, packets int, seen map[string]int) {
	r := rand.New(rand.NewPCG(seed, uint64(vpc)))
	w := newWorld(t, dp, r, vpc)
	clock := time.Unix(1_000_000, 0)
	oracle := firewall.NewEvaluator(func(g string, a netip.Addr) bool { return w.members[g][a] }, 6)
	oracle.Now = func() time.Time { return clock }
	// A small table, to see it fill, emptied of other worlds' flows.
	flushConntrack(t, dp)
	require.NoError(t, dp.SetConntrackLimit(6))
	defer func() {
		for _, set := range w.sets {
			dp.DeleteRuleSet(set)
		}
	}()
	var history []sent
	for n := range packets {
		s := randomPacket(r, w, history)
		// Whole multiples of 10 s: the datapath's own clock runs a little between packets, which
		// must not carry a flow over a timeout (30, 120, 180 s) that the oracle's does not.
		if r.IntN(5) == 0 {
			d := time.Duration(pick(r, []int{10, 20, 30, 120, 180})) * time.Second
			clock = clock.Add(d)
			require.NoError(t, dp.SkewClock(d))
		}
		if r.IntN(15) == 0 {
			oracle.Collect()
			_, err := dp.CollectConntrack()
			require.NoError(t, err)
		}
		// Under BPF_PROG_TEST_RUN every frame comes in on loopback (ifindex 1): the sender's
		// entry is copied there.
		var sender bpf.DatapathIface
		require.NoError(t, dp.maps.Ifaces.Lookup(uint32(s.src.ifindex), &sender))
		require.NoError(t, dp.maps.Ifaces.Put(uint32(1), sender))
		want := oracle.Forward(s.p, s.src.Endpoint, s.dst.Endpoint)
		got := w.judge(t, dp, s.src, s.dst, s.p)
		if got != want {
			quoted := ""
			if s.p.Embedded != nil {
				quoted = fmt.Sprintf(" quoting %+v", *s.p.Embedded)
			}
			t.Fatalf("seed %d vpc %d packet %d: %s -> %s %+v%s: datapath %q, oracle %q\ngroups: %s\nacls: %s",
				seed, vpc, n, s.src.Addr, s.dst.Addr, s.p, quoted, got, want, w.describeGroups(), w.describeACLs())
		}
		history = append(history, s)
		seen[got]++
	}
}

func (w *world) describeGroups() string {
	s := ""
	for _, g := range w.groups {
		s += fmt.Sprintf("\n  %s in %v out %v", g.ID, g.Ingress, g.Egress)
	}
	for _, e := range w.ends {
		s += fmt.Sprintf("\n  %s subnet %s groups %v", e.Addr, e.Subnet, e.groups)
	}
	return s
}

func (w *world) describeACLs() string {
	s := ""
	for subnet, a := range w.acls {
		s += fmt.Sprintf("\n  subnet %s: %+v", subnet, a.Entries)
	}
	return s
}

// flushConntrack empties the conntrack table, through the collector's program, and checks that
// every count it released came back to zero: no entry was ever counted twice or not at all.
func flushConntrack(t *testing.T, dp *Datapath) {
	_, err := dp.removeConntrack(math.MaxUint64, func(bpf.DatapathCtKey, bpf.DatapathCtEntry) bool { return true })
	require.NoError(t, err)
	n, err := dp.ConntrackCount()
	require.NoError(t, err)
	require.Zero(t, n, "the fabric's count")
	var ifindex uint32
	var usage bpf.DatapathIfaceUsage
	for it := dp.maps.Usage.Iterate(); it.Next(&ifindex, &usage); {
		require.Zero(t, usage.Tracked, "the count of interface %d", ifindex)
	}
}

func TestDatapathMatchesOracle(t *testing.T) {
	dp := testDatapath(t, guest())
	worlds := 1500
	if testing.Short() {
		worlds = 200
	}
	seen := map[string]int{}
	for i := range worlds {
		runWorld(t, dp, 42, uint32(100+i), 40, seen)
	}
	t.Logf("verdicts: %v", seen)
	// The generator must reach every verdict, or agreeing on them proves nothing.
	for _, v := range []string{firewall.Allowed, firewall.ReasonSGIngress, firewall.ReasonSGEgress, firewall.ReasonNACLIn,
		firewall.ReasonNACLOut, firewall.ReasonCTInvalid, firewall.ReasonCTFull, firewall.ReasonFrag, firewall.ReasonCTAllowance} {
		assert.Positive(t, seen[v], "no packet got %q", v)
	}
}

func FuzzDatapathMatchesOracle(f *testing.F) {
	f.Add(uint64(1), uint8(40))
	f.Add(uint64(7), uint8(200))
	dp := testDatapath(f, guest())
	vpc := uint32(10000)
	f.Fuzz(func(t *testing.T, seed uint64, packets uint8) {
		vpc++
		runWorld(t, dp, seed, vpc, int(packets), map[string]int{})
	})
}

// portAllowed is the datapath's lookup of a port in rule_ports (port_allowed in sg_nacl.h).
func portAllowed(rs *ruleSet, set, peer uint32, proto uint16, port int) bool {
	key := bpf.DatapathRulePortKey{Set: set, Peer: peer, Proto: proto, Block: uint16(port >> 8)}
	row, ok := rs.ports[key]
	if !ok {
		key.Block = blockAll
		row, ok = rs.ports[key]
	}
	if !ok {
		key.Proto, key.Block = protoAny, blockAll
		row, ok = rs.ports[key]
	}
	return ok && row.Allow[(port&255)/64]>>(port%64)&1 == 1
}

// ports writes every port's verdict: the commoner one per protocol (none where it is what
// protocols without rows get), and the blocks of 256 that differ from it.
func TestPortRowsCoverEveryPort(t *testing.T) {
	for _, anyAllows := range []bool{false, true} {
		for _, allow := range [][][2]int{{{0, 65535}}, {{80, 80}}, {{1000, 2999}, {3000, 3000}, {5000, 9000}}, {{1, 65534}}, {}, {{65535, 65535}}} {
			rs := newRuleSet(1)
			merged := allow
			if len(allow) > 0 {
				merged = mergeSpans(allow)
			}
			p := &peerRows{rs: rs, set: 1, peer: 2}
			p.anyProto(anyAllows)
			p.ports(firewall.TCP, merged, anyAllows)
			for port := range 0x10000 {
				want := false
				for _, a := range allow {
					if a[0] <= port && port <= a[1] {
						want = true
					}
				}
				require.Equal(t, want, portAllowed(rs, 1, 2, firewall.TCP, port), "port %d of %v", port, allow)
			}
			assert.LessOrEqual(t, len(rs.ports), 130, "the commoner verdict needs no blocks")
		}
	}
}

// A datapath pinned by a hostd whose maps differ is refused with ErrStaleDatapath, which tells
// teardown to remove it, rather than reused with the wrong layout.
func TestStaleDatapathIsRefused(t *testing.T) {
	hostdtest.RequireRoot(t)
	fabric := fmt.Sprintf("stale%d", os.Getpid())
	require.NoError(t, mountBPFFS())
	require.NoError(t, os.MkdirAll(PinDir(fabric), 0o700))
	t.Cleanup(func() { require.NoError(t, DeleteDatapath(fabric)) })
	old, err := ebpf.NewMap(&ebpf.MapSpec{Type: ebpf.Hash, KeySize: 4, ValueSize: 24, MaxEntries: 65536})
	require.NoError(t, err)
	require.NoError(t, old.Pin(filepath.Join(PinDir(fabric), "ifaces")))
	old.Close()
	_, err = LoadDatapath(fabric)
	require.ErrorIs(t, err, ErrStaleDatapath)
}

// A replaced rule set is deleted once a grace period has passed: no packet that read its number
// can still be looking at it.
func TestRetiredRuleSetGoesAfterAGracePeriod(t *testing.T) {
	dp := testDatapath(t, guest())
	rule := firewall.Rule{Protocol: firewall.TCP, From: 80, To: 80, CIDR: netip.MustParsePrefix("10.0.0.0/24")}
	set, err := dp.LoadPolicy(7, []*firewall.SecurityGroup{{ID: "sg-1", Ingress: []firewall.Rule{rule}}}, nil)
	require.NoError(t, err)
	entries := func() int {
		n := 0
		dp.forEachRuleKey(func(s uint32, _ func() error) {
			if s == set {
				n++
			}
		})
		return n
	}
	require.Positive(t, entries())
	dp.RetireRuleSet(set)
	require.Eventually(t, func() bool { return entries() == 0 }, 5*time.Second, time.Millisecond)
}
