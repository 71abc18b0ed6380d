package vnet

import (
	"cmp"
	"net/netip"
	"slices"

	"github.com/hostd/hostd/bpf"
	"github.com/hostd/hostd/firewall"
)

// The rule tries' peer field (datapath.h).
const (
	peerEgress = 0x80000000
	peerGroup  = 0x40000000
)

const (
	verdictDeny  = 0
	verdictAllow = 1
)

// ruleSet is a compiled rule set: the entries of the two tries (datapath.h, "Compiled rules").
// Keys of rule_ports are built so that the longest matching prefix holds the answer: a
// security group set holds only allows; an ACL set holds, for each address class, the verdict
// for protocols it names no rule for, for each protocol it names the verdict of ports no rule
// covers, and blocks of ports where the answer differs.
type ruleSet struct {
	addrs map[bpf.DatapathRuleAddrKey]uint32
	ports map[bpf.DatapathRulePortKey]uint32
}

func newRuleSet() *ruleSet {
	return &ruleSet{addrs: map[bpf.DatapathRuleAddrKey]uint32{}, ports: map[bpf.DatapathRulePortKey]uint32{}}
}

// GroupNumber gives the datapath number of a security group id (never 0).
type GroupNumber func(id string) uint32

// compilePolicy compiles the union of groups' rules (an interface's policy) as rule set set.
func compilePolicy(set uint32, groups []*firewall.SecurityGroup, number GroupNumber) *ruleSet {
	rs := newRuleSet()
	for _, dir := range []uint32{0, peerEgress} {
		byCIDR := map[netip.Prefix][]firewall.Rule{}
		byGroup := map[uint32][]firewall.Rule{}
		for _, g := range groups {
			rules := g.Ingress
			if dir == peerEgress {
				rules = g.Egress
			}
			for _, r := range rules {
				switch {
				case r.Group != "":
					n := number(r.Group)
					byGroup[n] = append(byGroup[n], r)
				case r.CIDR.Addr().Is4():
					byCIDR[r.CIDR] = append(byCIDR[r.CIDR], r)
				}
			}
		}
		for n, rules := range byGroup {
			rs.allow(set, dir|peerGroup|n, rules)
		}
		// Each CIDR is a class; an address takes the class of its most specific CIDR, so the
		// class holds its own rules and those of every CIDR containing it.
		for class, prefix := range sortedPrefixes(byCIDR) {
			rs.addrs[addrKey(set, dir, prefix)] = uint32(class + 1)
			var rules []firewall.Rule
			for _, outer := range containing(prefix, byCIDR) {
				rules = append(rules, byCIDR[outer]...)
			}
			rs.allow(set, dir|uint32(class+1), rules)
		}
	}
	return rs
}

// allow adds the entries admitting what rules admit from (or to) peer: per protocol, their port
// ranges merged, then split into prefix blocks, so that overlapping rules cost no more entries
// than their union needs.
func (rs *ruleSet) allow(set, peer uint32, rules []firewall.Rule) {
	spans := map[int][][2]int{}
	for _, r := range rules {
		if r.Protocol == firewall.AllProtocols {
			rs.ports[portKey(set, peer, 0, 0, 64)] = verdictAllow
			continue
		}
		lo, hi, ok := portSpan(r)
		if !ok {
			rs.ports[portKey(set, peer, uint8(r.Protocol), 0, 72)] = verdictAllow
			continue
		}
		spans[r.Protocol] = append(spans[r.Protocol], [2]int{lo, hi})
	}
	for proto, ss := range spans {
		slices.SortFunc(ss, func(a, b [2]int) int { return cmp.Compare(a[0], b[0]) })
		merged := ss[:1]
		for _, s := range ss[1:] {
			last := &merged[len(merged)-1]
			if s[0] <= last[1]+1 {
				last[1] = max(last[1], s[1])
			} else {
				merged = append(merged, s)
			}
		}
		for _, m := range merged {
			for _, b := range portBlocks(m[0], m[1]) {
				rs.ports[portKey(set, peer, uint8(proto), b.start, 72+b.bits)] = verdictAllow
			}
		}
	}
}

// compileACL compiles a network ACL as rule set set: first match by rule number, then deny.
func compileACL(set uint32, acl *firewall.NetworkACL) *ruleSet {
	rs := newRuleSet()
	entries := slices.Clone(acl.Entries)
	slices.SortStableFunc(entries, func(a, b firewall.ACLEntry) int { return cmp.Compare(a.Number, b.Number) })
	for _, dir := range []uint32{0, peerEgress} {
		byCIDR := map[netip.Prefix][]firewall.Rule{}
		for _, e := range entries {
			if e.Egress == (dir == peerEgress) && e.Rule.CIDR.Addr().Is4() {
				byCIDR[e.Rule.CIDR] = nil
			}
		}
		for class, prefix := range sortedPrefixes(byCIDR) {
			rs.addrs[addrKey(set, dir, prefix)] = uint32(class + 1)
			// The entries that apply to this class, in order.
			var apply []firewall.ACLEntry
			for _, e := range entries {
				if e.Egress == (dir == peerEgress) && e.Rule.CIDR.Bits() <= prefix.Bits() && e.Rule.CIDR.Contains(prefix.Addr()) {
					apply = append(apply, e)
				}
			}
			rs.aclClass(set, dir|uint32(class+1), apply)
		}
	}
	return rs
}

// aclClass writes the verdicts of one address class, whose entries are apply in order.
func (rs *ruleSet) aclClass(set, peer uint32, apply []firewall.ACLEntry) {
	// Protocols named by no entry: the first all-protocols entry decides.
	rs.ports[portKey(set, peer, 0, 0, 64)] = firstVerdict(apply, func(r firewall.Rule) bool { return r.Protocol == firewall.AllProtocols })
	protos := map[int]bool{}
	for _, e := range apply {
		if e.Rule.Protocol != firewall.AllProtocols {
			protos[e.Rule.Protocol] = true
		}
	}
	for proto := range protos {
		relevant := func(r firewall.Rule) bool { return r.Protocol == firewall.AllProtocols || r.Protocol == proto }
		if _, _, ok := portSpan(firewall.Rule{Protocol: proto}); !ok {
			rs.ports[portKey(set, peer, uint8(proto), 0, 72)] = firstVerdict(apply, relevant)
			continue
		}
		// Cut the port space where any entry starts or ends; each piece has one verdict.
		cuts := []int{0, 0x10000}
		for _, e := range apply {
			if relevant(e.Rule) {
				lo, hi := fullSpan(e.Rule)
				cuts = append(cuts, lo, hi+1)
			}
		}
		slices.Sort(cuts)
		cuts = slices.Compact(cuts)
		rs.ports[portKey(set, peer, uint8(proto), 0, 72)] = verdictDeny
		for i := 0; i+1 < len(cuts); i++ {
			lo, hi := cuts[i], cuts[i+1]-1
			v := firstVerdict(apply, func(r firewall.Rule) bool {
				rlo, rhi := fullSpan(r)
				return relevant(r) && rlo <= lo && hi <= rhi
			})
			if v == verdictAllow {
				for _, b := range portBlocks(lo, hi) {
					rs.ports[portKey(set, peer, uint8(proto), b.start, 72+b.bits)] = verdictAllow
				}
			}
		}
	}
}

func firstVerdict(entries []firewall.ACLEntry, match func(firewall.Rule) bool) uint32 {
	for _, e := range entries {
		if match(e.Rule) {
			if e.Allow {
				return verdictAllow
			}
			return verdictDeny
		}
	}
	return verdictDeny
}

// portSpan is the part of the datapath's 16-bit port field a rule admits: TCP and UDP
// destination ports, ICMP type << 8 | code. ok is false for protocols without ports.
func portSpan(r firewall.Rule) (lo, hi int, ok bool) {
	switch r.Protocol {
	case firewall.TCP, firewall.UDP:
		if r.From < 0 {
			return 0, 0xffff, true
		}
		return r.From, r.To, true
	case firewall.ICMP:
		switch {
		case r.From == -1:
			return 0, 0xffff, true
		case r.To == -1:
			return r.From << 8, r.From<<8 | 0xff, true
		}
		return r.From<<8 | r.To, r.From<<8 | r.To, true
	}
	return 0, 0, false
}

// fullSpan is portSpan with every port for rules that have none (all protocols).
func fullSpan(r firewall.Rule) (int, int) {
	lo, hi, ok := portSpan(r)
	if !ok {
		return 0, 0xffff
	}
	return lo, hi
}

type portBlock struct {
	start uint16
	bits  uint32 // prefix length within the 16 bits
}

// portBlocks splits [lo, hi] into the fewest aligned power-of-two blocks (at most 30).
func portBlocks(lo, hi int) []portBlock {
	var out []portBlock
	for lo <= hi {
		size := 1
		for lo%(size*2) == 0 && lo+size*2-1 <= hi && size < 0x10000 {
			size *= 2
		}
		bits := uint32(16)
		for s := size; s > 1; s /= 2 {
			bits--
		}
		out = append(out, portBlock{start: uint16(lo), bits: bits})
		lo += size
	}
	return out
}

func sortedPrefixes[V any](m map[netip.Prefix]V) []netip.Prefix {
	out := make([]netip.Prefix, 0, len(m))
	for p := range m {
		out = append(out, p)
	}
	slices.SortFunc(out, func(a, b netip.Prefix) int {
		if c := a.Addr().Compare(b.Addr()); c != 0 {
			return c
		}
		return cmp.Compare(a.Bits(), b.Bits())
	})
	return out
}

// containing lists the prefixes of m that contain p (p among them).
func containing[V any](p netip.Prefix, m map[netip.Prefix]V) []netip.Prefix {
	var out []netip.Prefix
	for bits := 0; bits <= p.Bits(); bits++ {
		outer, _ := p.Addr().Prefix(bits)
		if _, ok := m[outer]; ok {
			out = append(out, outer)
		}
	}
	return out
}

func addrKey(set, dir uint32, p netip.Prefix) bpf.DatapathRuleAddrKey {
	return bpf.DatapathRuleAddrKey{Prefixlen: 64 + uint32(p.Bits()), Set: set, Dir: dir, Addr: ipKey(p.Addr().AsSlice())}
}

func portKey(set, peer uint32, proto uint8, port uint16, prefixlen uint32) bpf.DatapathRulePortKey {
	return bpf.DatapathRulePortKey{Prefixlen: prefixlen, Set: set, Peer: peer, Proto: proto, Port: [2]uint8{uint8(port >> 8), uint8(port)}}
}
