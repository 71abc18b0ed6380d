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
	// reports on.
	Embedded *Packet
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
	ACL    *NetworkACL
	Groups []*SecurityGroup
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
)

type flowKey struct {
	proto          int
	initiator, dst netip.AddrPort
}

type flow struct {
	expires     time.Time
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

// Evaluator is the reference for what the datapath must decide: it holds the conntrack table and
// the verdicts of first fragments.
type Evaluator struct {
	Members  Members
	MaxFlows int
	Now      func() time.Time
	flows    map[flowKey]*flow
	frags    map[fragKey]string
}

// NewEvaluator returns an evaluator with a conntrack table of maxFlows entries.
func NewEvaluator(members Members, maxFlows int) *Evaluator {
	return &Evaluator{Members: members, MaxFlows: maxFlows, Now: time.Now, flows: map[flowKey]*flow{}, frags: map[fragKey]string{}}
}

// Forward judges p sent by src to dst, and tracks it: the empty string if it is delivered, else
// the reason it is dropped. Order, as in the datapath: the source subnet's ACL outbound (when p
// leaves the subnet), conntrack, the source's groups outbound, the destination subnet's ACL
// inbound (when p enters another subnet), the destination's groups inbound.
func (e *Evaluator) Forward(p Packet, src, dst Endpoint) string {
	if p.FragOffset > 0 {
		if verdict, ok := e.frags[fragKey{p.Protocol, p.Src, p.Dst, p.FragID}]; ok && verdict == Allowed {
			return Allowed
		}
		return ReasonFrag
	}
	verdict := e.judge(p, src, dst)
	if p.MoreFrags {
		e.frags[fragKey{p.Protocol, p.Src, p.Dst, p.FragID}] = verdict
	}
	return verdict
}

func (e *Evaluator) judge(p Packet, src, dst Endpoint) string {
	crossing := src.Subnet != dst.Subnet
	if crossing && !src.ACL.Allows(true, p) {
		return ReasonNACLOut
	}
	tracked := e.lookup(p)
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
		if !e.track(p) {
			return ReasonCTFull
		}
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
		// Echo request and reply match by addresses; the identifier stands for the ports.
		a, b = netip.AddrPortFrom(p.Src, 0), netip.AddrPortFrom(p.Dst, 0)
	}
	return flowKey{p.Protocol, a, b}, flowKey{p.Protocol, b, a}
}

// lookup tells whether p belongs to a tracked flow (either way), refreshing it; an ICMP error
// about a tracked flow is related to it. An expired flow met on the way is removed.
func (e *Evaluator) lookup(p Packet) bool {
	if p.Protocol == ICMP && p.Embedded != nil && (p.ICMPType == 3 || p.ICMPType == 11) {
		return e.peek(*p.Embedded)
	}
	fwd, rev := keyOf(p)
	if f := e.find(fwd); f != nil {
		e.refresh(f, p, false)
		return true
	}
	if f := e.find(rev); f != nil {
		e.refresh(f, p, true)
		return true
	}
	return false
}

func (e *Evaluator) find(k flowKey) *flow {
	f := e.flows[k]
	if f != nil && !e.Now().Before(f.expires) {
		delete(e.flows, k)
		return nil
	}
	return f
}

func (e *Evaluator) peek(p Packet) bool {
	now := e.Now()
	fwd, rev := keyOf(p)
	for _, k := range []flowKey{fwd, rev} {
		if f := e.flows[k]; f != nil && now.Before(f.expires) {
			return true
		}
	}
	return false
}

// Collect removes expired flows, as the daemon's conntrack collector does. Until then (or until
// a packet of the flow comes by) an expired flow still takes its place in the table.
func (e *Evaluator) Collect() {
	now := e.Now()
	for k, f := range e.flows {
		if !now.Before(f.expires) {
			delete(e.flows, k)
		}
	}
}

// Flows is the number of entries in the conntrack table, expired ones not yet collected included.
func (e *Evaluator) Flows() int { return len(e.flows) }

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
			f.expires = now // gone
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

// track starts tracking a new allowed flow; it fails when the table is full. A TCP packet that
// opens no connection, or an ICMP error (whose flow, keyed the datapath's way, would be the one it
// reports on), passes untracked.
func (e *Evaluator) track(p Packet) bool {
	if p.Protocol == TCP && !(p.SYN && !p.ACK) || p.Protocol == ICMP && (p.ICMPType == 3 || p.ICMPType == 11) {
		return true // allowed by a rule without opening anything: nothing to track
	}
	if len(e.flows) >= e.MaxFlows {
		return false
	}
	fwd, _ := keyOf(p)
	f := &flow{}
	e.flows[fwd] = f
	e.refresh(f, p, false)
	return true
}
