package firewall

import (
	"net/netip"
	"sort"
	"time"
)

// Packet is what the evaluator judges.
type Packet struct {
	Protocol           int
	Src, Dst           netip.Addr
	SrcPort, DstPort   int // TCP and UDP
	ICMPType, ICMPCode int // ICMP
	SYN, ACK, FIN, RST bool
	// Fragments: a packet with FragOffset > 0 carries no ports; it is delivered if the first
	// fragment with the same source, destination, protocol and FragID was, else dropped (frag).
	FragID     uint16
	FragOffset int
	MoreFrags  bool
	// Embedded is, for an ICMP error (destination unreachable, time exceeded), the packet it
	// reports on: its IP header and first 8 bytes.
	Embedded *Packet
	// IHL and TotalLength are the IP header's length (in 4-byte words) and total length as sent,
	// when they are not what the packet has (0: 5 words, and its real length). Only an ICMP
	// error's checks read them: a quote must be whole and consistent to relate to anything.
	IHL, TotalLength int
}

// ICMP message types that report an error about another packet.
const (
	ICMPDestinationUnreachable = 3
	ICMPTimeExceeded           = 11
)

// isICMPError tells whether p reports an error about another packet.
func (p Packet) isICMPError() bool {
	return p.Protocol == ICMP && (p.ICMPType == ICMPDestinationUnreachable || p.ICMPType == ICMPTimeExceeded)
}

func (p Packet) headerWords() int {
	if p.IHL == 0 {
		return 5
	}
	return p.IHL
}

// quotes tells whether the ICMP error p quotes a whole, consistent packet of a protocol flows
// are tracked for: IPv4 with a header of 5 to 15 words, a total length covering its header and
// 8 bytes, not a later fragment, TCP, UDP or ICMP, and inside what p's own header claims.
func (p Packet) quotes() bool {
	q := p.Embedded
	if q == nil || q.headerWords() < 5 || q.FragOffset > 0 {
		return false
	}
	if q.TotalLength != 0 && q.TotalLength < q.headerWords()*4+8 {
		return false
	}
	if p.TotalLength != 0 && p.TotalLength < p.headerWords()*4+8+q.headerWords()*4+8 {
		return false
	}
	return q.Protocol == TCP || q.Protocol == UDP || q.Protocol == ICMP
}

// SecurityGroup is a group's rules.
type SecurityGroup struct {
	ID      string
	Ingress []Rule
	Egress  []Rule
}

// Members tells whether an address belongs to a group (the members' private IPs).
type Members func(group string, addr netip.Addr) bool

// allows tells whether any rule of any group admits p, whose peer is the source (ingress) or the
// destination (egress).
func allows(groups []*SecurityGroup, ingress bool, p Packet, members Members) bool {
	peer := p.Dst
	if ingress {
		peer = p.Src
	}
	for _, g := range groups {
		rules := g.Egress
		if ingress {
			rules = g.Ingress
		}
		for _, r := range rules {
			if r.admits(p) && (r.Group == "" && r.CIDR.Contains(peer) || r.Group != "" && members(r.Group, peer)) {
				return true
			}
		}
	}
	return false
}

// admits tells whether p is of r's protocol and ports (its peer aside).
func (r Rule) admits(p Packet) bool {
	if r.Protocol != AllProtocols && r.Protocol != p.Protocol {
		return false
	}
	switch r.Protocol {
	case TCP, UDP:
		return p.DstPort >= r.From && p.DstPort <= r.To
	case ICMP, ICMPv6:
		return (r.From == -1 || r.From == p.ICMPType) && (r.To == -1 || r.To == p.ICMPCode)
	}
	return true
}

// ACLEntry is one numbered network ACL rule.
type ACLEntry struct {
	Number int // 1 to 32766, lowest first
	Egress bool
	Allow  bool
	Rule   Rule // its protocol, ports and CIDR (the source inbound, the destination outbound)
}

// NetworkACL is a subnet's ordered, stateless rules, ending in an implicit deny-all.
type NetworkACL struct {
	Entries []ACLEntry
}

// DefaultACL allows everything, as a VPC's default ACL does; a new ACL (no entries) denies all.
func DefaultACL() *NetworkACL {
	all := Rule{Protocol: AllProtocols, From: -1, To: -1, CIDR: netip.MustParsePrefix("0.0.0.0/0")}
	return &NetworkACL{Entries: []ACLEntry{{Number: 100, Allow: true, Rule: all}, {Number: 100, Egress: true, Allow: true, Rule: all}}}
}

// Allows applies the ACL to p leaving (egress) or entering its subnet: the first matching
// entry by number decides; none matching denies.
func (a *NetworkACL) Allows(egress bool, p Packet) bool {
	entries := append([]ACLEntry(nil), a.Entries...)
	sort.SliceStable(entries, func(i, j int) bool { return entries[i].Number < entries[j].Number })
	peer := p.Src
	if egress {
		peer = p.Dst
	}
	for _, e := range entries {
		if e.Egress == egress && e.Rule.admits(p) && e.Rule.CIDR.Contains(peer) {
			return e.Allow
		}
	}
	return false
}

// Endpoint is an interface as the evaluator sees it.
type Endpoint struct {
	Addr   netip.Addr
	Subnet string
	// Router is the router address of its subnet (.1), which may report errors about its flows.
	Router netip.Addr
	ACL    *NetworkACL
	Groups []*SecurityGroup
	// ConntrackAllowance is how many conntrack entries (flows, first fragments' records) it may
	// open (0: no limit of its own, only the table's).
	ConntrackAllowance int
}

// Drop reasons, as the datapath counts them.
const (
	Allowed         = ""
	ReasonNACLOut   = "nacl-out"
	ReasonNACLIn    = "nacl-in"
	ReasonSGEgress  = "sg-egress"
	ReasonSGIngress = "sg-ingress"
	ReasonCTInvalid = "ct-invalid"
	ReasonCTFull    = "ct-full"
	ReasonFrag      = "frag"
	// ReasonCTAllowance is EC2's name (an ENA counter) for a flow refused because its
	// interface has opened all the flows its allowance lets it.
	ReasonCTAllowance = "conntrack_allowance_exceeded"
)

// Timeouts of tracked flows, EC2's.
var (
	TCPEstablishedTimeout = 432000 * time.Second
	TCPOpeningTimeout     = 120 * time.Second
	// Once both sides have sent a FIN the connection is closing: its entry goes soon, so that
	// connections that come and go do not fill the table for five days each.
	TCPClosingTimeout = 10 * time.Second
	UDPTimeout        = 30 * time.Second
	UDPStreamTimeout  = 180 * time.Second
	ICMPTimeout       = 30 * time.Second
	// FragmentTimeout is how long a first fragment's record lets later ones through (Linux's
	// ipfrag_time: a datagram not whole by then never will be).
	FragmentTimeout = 30 * time.Second
)

type flowKey struct {
	proto          int
	initiator, dst netip.AddrPort
}

// entry is what conntrack holds of a flow or of a first fragment: when it expires, and the
// interface that opened it, whose allowance it counts against.
type entry struct {
	expires time.Time
	owner   netip.Addr
}

type flow struct {
	entry
	replied     bool // the responder has answered: a UDP stream, an established TCP connection
	established bool
	finFwd      bool // the initiator sent a FIN
	finRev      bool // the responder sent a FIN
}

type fragKey struct {
	proto    int
	src, dst netip.Addr
	id       uint16
}

// Evaluator is the reference for what the datapath must decide. Its conntrack table holds the
// tracked flows and the records of delivered first fragments, at most MaxFlows entries, each
// charged to the interface that opened it.
type Evaluator struct {
	Members  Members
	MaxFlows int
	Now      func() time.Time
	flows    map[flowKey]*flow
	frags    map[fragKey]*entry
	opened   map[netip.Addr]int // entries in the table, by owner
}

// NewEvaluator returns an evaluator with a conntrack table of maxFlows entries.
func NewEvaluator(members Members, maxFlows int) *Evaluator {
	return &Evaluator{Members: members, MaxFlows: maxFlows, Now: time.Now, flows: map[flowKey]*flow{}, frags: map[fragKey]*entry{}, opened: map[netip.Addr]int{}}
}

// Forward judges p sent by src to dst, and tracks it: the empty string if it is delivered, else
// the reason it is dropped. Order, as in the datapath: the source subnet's ACL outbound (when p
// leaves the subnet), conntrack, the source's groups outbound, the destination subnet's ACL
// inbound (when p enters another subnet), the destination's groups inbound. A delivered first
// fragment is recorded for the fragments after it, which go where it went.
func (e *Evaluator) Forward(p Packet, src, dst Endpoint) string {
	key := fragKey{p.Protocol, p.Src, p.Dst, p.FragID}
	if p.FragOffset > 0 {
		if f := e.frags[key]; f != nil && e.live(f, func() { delete(e.frags, key) }) {
			return Allowed
		}
		return ReasonFrag
	}
	verdict := e.judge(p, src, dst)
	if verdict != Allowed || !p.MoreFrags {
		return verdict
	}
	if f := e.frags[key]; f != nil { // the same datagram again
		f.expires = e.Now().Add(FragmentTimeout)
		return Allowed
	}
	if reason := e.charge(src); reason != Allowed {
		return reason
	}
	e.frags[key] = &entry{expires: e.Now().Add(FragmentTimeout), owner: src.Addr}
	return Allowed
}

func (e *Evaluator) judge(p Packet, src, dst Endpoint) string {
	crossing := src.Subnet != dst.Subnet
	if crossing && !src.ACL.Allows(true, p) {
		return ReasonNACLOut
	}
	// An ICMP error belongs to no flow of its own: it is related to one, or judged by the rules.
	var tracked bool
	if p.isICMPError() {
		tracked = e.related(p, dst)
	} else {
		tracked = e.lookup(p)
	}
	if !tracked {
		if !allows(src.Groups, false, p, e.Members) {
			return e.denied(p, ReasonSGEgress)
		}
	}
	if crossing && !dst.ACL.Allows(false, p) {
		return ReasonNACLIn
	}
	if !tracked {
		if !allows(dst.Groups, true, p, e.Members) {
			return e.denied(p, ReasonSGIngress)
		}
		return e.track(p, src)
	}
	return Allowed
}

// denied is the reason a packet the rules do not allow is dropped: a TCP packet that opens no
// connection and belongs to none is invalid before it is unwanted.
func (e *Evaluator) denied(p Packet, reason string) string {
	if p.Protocol == TCP && !(p.SYN && !p.ACK) {
		return ReasonCTInvalid
	}
	return reason
}

func keyOf(p Packet) (flowKey, flowKey) {
	a, b := netip.AddrPortFrom(p.Src, uint16(p.SrcPort)), netip.AddrPortFrom(p.Dst, uint16(p.DstPort))
	if p.Protocol == ICMP {
		// Echo request and reply match by addresses.
		a, b = netip.AddrPortFrom(p.Src, 0), netip.AddrPortFrom(p.Dst, 0)
	}
	return flowKey{p.Protocol, a, b}, flowKey{p.Protocol, b, a}
}

// lookup tells whether p belongs to a tracked flow (either way), refreshing it; a reset ends the
// flow. An expired flow met on the way is removed.
func (e *Evaluator) lookup(p Packet) bool {
	fwd, rev := keyOf(p)
	for _, k := range []flowKey{fwd, rev} {
		f := e.flows[k]
		if f == nil || !e.live(&f.entry, func() { delete(e.flows, k) }) {
			continue
		}
		if p.Protocol == TCP && p.RST {
			e.remove(&f.entry, func() { delete(e.flows, k) })
		} else {
			e.refresh(f, p, k == rev)
		}
		return true
	}
	return false
}

// related tells whether the ICMP error p reports on a packet of a tracked flow: the packet it
// quotes (whole and consistent) was sent by the flow's initiator to its responder, and the
// error comes back to that initiator (dst) from the responder or the router of dst's subnet.
func (e *Evaluator) related(p Packet, dst Endpoint) bool {
	if !p.quotes() {
		return false
	}
	q := *p.Embedded
	if p.Dst != q.Src || (p.Src != q.Dst && p.Src != dst.Router) {
		return false
	}
	fwd, _ := keyOf(q)
	f := e.flows[fwd]
	return f != nil && e.Now().Before(f.expires)
}

// live tells whether an entry has not expired; one that has is removed (with forget).
func (e *Evaluator) live(en *entry, forget func()) bool {
	if e.Now().Before(en.expires) {
		return true
	}
	e.remove(en, forget)
	return false
}

// remove takes an entry out of the table and off its owner's count.
func (e *Evaluator) remove(en *entry, forget func()) {
	forget()
	e.opened[en.owner]--
}

// Collect removes expired entries, as the daemon's conntrack collector does. Until then (or until
// a packet of the flow comes by) an expired entry still takes its place in the table.
func (e *Evaluator) Collect() {
	for k, f := range e.flows {
		e.live(&f.entry, func() { delete(e.flows, k) })
	}
	for k, f := range e.frags {
		e.live(f, func() { delete(e.frags, k) })
	}
}

// Flows is the number of entries in the conntrack table (flows and first fragments' records),
// expired ones not yet collected included.
func (e *Evaluator) Flows() int { return len(e.flows) + len(e.frags) }

// Opened is the number of entries in the table that the interface with address owner opened.
func (e *Evaluator) Opened(owner netip.Addr) int { return e.opened[owner] }

func (e *Evaluator) refresh(f *flow, p Packet, reply bool) {
	now := e.Now()
	if reply {
		f.replied = true
	}
	switch p.Protocol {
	case TCP:
		if reply && p.SYN && p.ACK {
			f.established = true
		}
		if p.FIN {
			f.finRev = f.finRev || reply
			f.finFwd = f.finFwd || !reply
		}
		switch {
		case p.RST:
			f.expires = now // a SYN with a reset: opened and closed at once
		case f.finFwd && f.finRev:
			f.expires = now.Add(TCPClosingTimeout)
		case f.established:
			f.expires = now.Add(TCPEstablishedTimeout)
		default:
			f.expires = now.Add(TCPOpeningTimeout)
		}
	case UDP:
		if f.replied {
			f.expires = now.Add(UDPStreamTimeout)
		} else {
			f.expires = now.Add(UDPTimeout)
		}
	default:
		f.expires = now.Add(ICMPTimeout)
	}
}

// charge counts a new entry src opens against its allowance and the table's size: the empty
// string, or why the entry is refused.
func (e *Evaluator) charge(src Endpoint) string {
	if src.ConntrackAllowance > 0 && e.opened[src.Addr] >= src.ConntrackAllowance {
		return ReasonCTAllowance
	}
	if e.Flows() >= e.MaxFlows {
		return ReasonCTFull
	}
	e.opened[src.Addr]++
	return Allowed
}

// track starts tracking a new allowed flow that src opened: the empty string, or why it was
// refused. A TCP packet that opens no connection, and an ICMP error, track nothing.
func (e *Evaluator) track(p Packet, src Endpoint) string {
	if p.Protocol == TCP && !(p.SYN && !p.ACK) || p.isICMPError() {
		return Allowed
	}
	if reason := e.charge(src); reason != Allowed {
		return reason
	}
	fwd, _ := keyOf(p)
	f := &flow{entry: entry{owner: src.Addr}}
	e.flows[fwd] = f
	e.refresh(f, p, false)
	return Allowed
}
