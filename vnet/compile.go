package vnet

import (
	"cmp"
	"net/netip"
	"slices"

	"github.com/hostd/hostd/bpf"
	"github.com/hostd/hostd/firewall"
)

// The bits of rule set handles and of the rule maps' keys (datapath.h, "Compiled rules").
const (
	setAllowsIn    = uint32(bpf.DatapathRuleSetBitsSET_ALLOWS_IN)
	setAllowsOut   = uint32(bpf.DatapathRuleSetBitsSET_ALLOWS_OUT)
	setEgress      = uint32(bpf.DatapathRuleSetBitsSET_EGRESS)
	setNumber      = uint32(bpf.DatapathRuleSetBitsSET_NUMBER)
	peerIdentity   = uint32(bpf.DatapathRulePeerBitsPEER_IDENTITY)
	classAllowsAll = uint32(bpf.DatapathRulePeerBitsCLASS_ALLOWS_ALL)
	protoAny       = uint16(bpf.DatapathRuleProtocolPROTO_ANY)
	blockAll       = uint16(bpf.DatapathRuleBlockBLOCK_ALL)
)

// ruleSet is a compiled rule set: its handle and its rows in rule_classes and rule_ports.
type ruleSet struct {
	handle  uint32
	vpc     uint32
	classes map[bpf.DatapathRuleClassKey]uint32
	ports   map[bpf.DatapathRulePortKey]bpf.DatapathRulePortBits
	// byGroup holds a policy's rules naming each group (by number), inbound [0] and outbound
	// [1]: what the rows of an identity, a combination of groups, are made of.
	byGroup [2]map[uint32][]firewall.Rule
	// identityRows lists the rows written for each identity, to delete them when it goes.
	identityRows map[uint32][]bpf.DatapathRulePortKey
}

func newRuleSet(number uint32) *ruleSet {
	return &ruleSet{
		handle:       number,
		classes:      map[bpf.DatapathRuleClassKey]uint32{},
		ports:        map[bpf.DatapathRulePortKey]bpf.DatapathRulePortBits{},
		byGroup:      [2]map[uint32][]firewall.Rule{{}, {}},
		identityRows: map[uint32][]bpf.DatapathRulePortKey{},
	}
}

func (rs *ruleSet) number() uint32 { return rs.handle & setNumber }

func (rs *ruleSet) size() int { return len(rs.classes) + len(rs.ports) }

// keySet is the set field of rs's keys, inbound or outbound.
func (rs *ruleSet) keySet(egress bool) uint32 {
	if egress {
		return rs.number() | setEgress
	}
	return rs.number()
}

// allowsAllBit is the handle's bit saying the set admits every packet one way.
func allowsAllBit(egress bool) uint32 {
	if egress {
		return setAllowsOut
	}
	return setAllowsIn
}

var directions = []bool{false, true} // inbound, outbound

func dirIndex(egress bool) int {
	if egress {
		return 1
	}
	return 0
}

// addClasses gives each CIDR of prefixes a class (1, 2, ...) in set, whose value is its number,
// with CLASS_ALLOWS_ALL where allowsAll says the class admits everything.
func (rs *ruleSet) addClasses(set uint32, prefixes []netip.Prefix, allowsAll func(class int) bool) {
	for i, p := range prefixes {
		v := uint32(i + 1)
		if allowsAll(i) {
			v |= classAllowsAll
		}
		rs.classes[bpf.DatapathRuleClassKey{Prefixlen: 32 + uint32(p.Bits()), Set: set, Addr: ipKey(p.Addr().AsSlice())}] = v
	}
}

// uniformRow is a rule_ports row with every bit alike: a BLOCK_ALL or PROTO_ANY row.
func uniformRow(allow bool) bpf.DatapathRulePortBits {
	if !allow {
		return bpf.DatapathRulePortBits{}
	}
	all := ^uint64(0)
	return bpf.DatapathRulePortBits{Allow: [4]uint64{all, all, all, all}}
}

// peerRows are the rule_ports rows of one peer (a class, or an identity) of a set.
type peerRows struct {
	rs        *ruleSet
	set, peer uint32
	written   []bpf.DatapathRulePortKey
}

func (p *peerRows) put(proto, block uint16, row bpf.DatapathRulePortBits) {
	key := bpf.DatapathRulePortKey{Set: p.set, Peer: p.peer, Proto: proto, Block: block}
	p.rs.ports[key] = row
	p.written = append(p.written, key)
}

// anyProto writes what protocols without a row of their own get; a missing row denies.
func (p *peerRows) anyProto(allow bool) {
	if allow {
		p.put(protoAny, blockAll, uniformRow(true))
	}
}

// protocol writes the verdict of a protocol without ports, where it differs from anyAllows.
func (p *peerRows) protocol(proto int, allow, anyAllows bool) {
	if allow != anyAllows {
		p.put(uint16(proto), blockAll, uniformRow(allow))
	}
}

// ports writes the verdicts of proto's ports: those in allow (sorted, disjoint spans) are
// allowed, the others denied. The commoner verdict goes in the BLOCK_ALL row (none where it is
// anyAllows, which the datapath falls back to), and the blocks of 256 ports that differ from it
// in rows of their own.
func (p *peerRows) ports(proto int, allow [][2]int, anyAllows bool) {
	var bits [1024]uint64 // one per 64 ports
	allowed := 0
	for _, a := range allow {
		for port := a[0]; port <= a[1]; port++ {
			bits[port/64] |= 1 << (port % 64)
		}
		allowed += a[1] - a[0] + 1
	}
	common := allowed > 0x8000
	fill := uniformRow(common).Allow
	for block := range 256 {
		var row bpf.DatapathRulePortBits
		copy(row.Allow[:], bits[block*4:block*4+4])
		if row.Allow != fill {
			p.put(uint16(proto), uint16(block), row)
		}
	}
	p.protocol(proto, common, anyAllows)
}

// hasPorts tells whether rules of proto name ports (for ICMP, type and code).
func hasPorts(proto int) bool {
	_, _, ok := portSpan(firewall.Rule{Protocol: proto})
	return ok
}

// GroupNumber gives the datapath number of a security group id (never 0).
type GroupNumber func(id string) uint32

// compilePolicy compiles the union of groups' rules (an interface's policy), numbered number.
// Its rows for the identities of its VPC are added by the caller (identityRows).
func compilePolicy(number uint32, groups []*firewall.SecurityGroup, groupNumber GroupNumber) *ruleSet {
	rs := newRuleSet(number)
	for _, egress := range directions {
		byCIDR := map[netip.Prefix][]firewall.Rule{}
		byGroup := rs.byGroup[dirIndex(egress)]
		for _, g := range groups {
			rules := g.Ingress
			if egress {
				rules = g.Egress
			}
			for _, r := range rules {
				switch {
				case r.Group != "":
					n := groupNumber(r.Group)
					byGroup[n] = append(byGroup[n], r)
				case r.CIDR.Addr().Is4():
					byCIDR[r.CIDR] = append(byCIDR[r.CIDR], r)
				}
			}
		}
		if admitsAll(byCIDR[netip.MustParsePrefix("0.0.0.0/0")]) {
			rs.handle |= allowsAllBit(egress)
			continue
		}
		// Each CIDR is a class; an address takes the class of its most specific CIDR, so the
		// class holds its own rules and those of every CIDR containing it.
		set := rs.keySet(egress)
		prefixes := sortedPrefixes(byCIDR)
		classRules := make([][]firewall.Rule, len(prefixes))
		for class, prefix := range prefixes {
			for _, outer := range containing(prefix, byCIDR) {
				classRules[class] = append(classRules[class], byCIDR[outer]...)
			}
			if !admitsAll(classRules[class]) {
				rs.allow(set, uint32(class+1), classRules[class])
			}
		}
		rs.addClasses(set, prefixes, func(class int) bool { return admitsAll(classRules[class]) })
	}
	return rs
}

// admitsAll tells whether one of rules admits every protocol.
func admitsAll(rules []firewall.Rule) bool {
	return slices.ContainsFunc(rules, func(r firewall.Rule) bool { return r.Protocol == firewall.AllProtocols })
}

// allow writes what rules admit from (or to) peer. Rules are allow-only and unioned: an
// all-protocols rule admits everything, and a protocol's port ranges merge.
func (rs *ruleSet) allow(set, peer uint32, rules []firewall.Rule) []bpf.DatapathRulePortKey {
	p := &peerRows{rs: rs, set: set, peer: peer}
	if admitsAll(rules) {
		p.anyProto(true)
		return p.written
	}
	spans := map[int][][2]int{}
	whole := map[int]bool{} // protocols without ports
	for _, r := range rules {
		if lo, hi, ok := portSpan(r); ok {
			spans[r.Protocol] = append(spans[r.Protocol], [2]int{lo, hi})
		} else {
			whole[r.Protocol] = true
		}
	}
	for proto := range whole {
		p.protocol(proto, true, false)
	}
	for proto, ss := range spans {
		p.ports(proto, mergeSpans(ss), false)
	}
	return p.written
}

// addIdentity writes the rows of an identity (a combination of groups) into a policy: what the
// policy's rules naming any of those groups admit, each way. It returns the rows written.
func (rs *ruleSet) addIdentity(identity uint32, groups []uint32) []bpf.DatapathRulePortKey {
	var written []bpf.DatapathRulePortKey
	for _, egress := range directions {
		if rs.handle&allowsAllBit(egress) != 0 {
			continue
		}
		var rules []firewall.Rule
		for _, g := range groups {
			rules = append(rules, rs.byGroup[dirIndex(egress)][g]...)
		}
		if len(rules) > 0 {
			written = append(written, rs.allow(rs.keySet(egress), peerIdentity|identity, rules)...)
		}
	}
	if len(written) > 0 {
		rs.identityRows[identity] = written
	}
	return written
}

// mergeSpans sorts spans and joins those that overlap or touch.
func mergeSpans(ss [][2]int) [][2]int {
	ss = slices.Clone(ss)
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
	return merged
}

// compileACL compiles a network ACL, numbered number: first match by rule number, then deny.
func compileACL(number uint32, acl *firewall.NetworkACL) *ruleSet {
	rs := newRuleSet(number)
	entries := slices.Clone(acl.Entries)
	slices.SortStableFunc(entries, func(a, b firewall.ACLEntry) int { return cmp.Compare(a.Number, b.Number) })
	for _, egress := range directions {
		var ours []firewall.ACLEntry // this direction's IPv4 entries, in order
		for _, e := range entries {
			if e.Egress == egress && e.Rule.CIDR.Addr().Is4() {
				ours = append(ours, e)
			}
		}
		if allowsEverything(ours, func(e firewall.ACLEntry) bool { return e.Rule.CIDR.Bits() == 0 }) {
			rs.handle |= allowsAllBit(egress)
			continue
		}
		byCIDR := map[netip.Prefix]bool{}
		for _, e := range ours {
			byCIDR[e.Rule.CIDR] = true
		}
		set := rs.keySet(egress)
		prefixes := sortedPrefixes(byCIDR)
		applying := make([][]firewall.ACLEntry, len(prefixes))
		for class, prefix := range prefixes {
			// The entries that apply to this class, in order.
			for _, e := range ours {
				if e.Rule.CIDR.Bits() <= prefix.Bits() && e.Rule.CIDR.Contains(prefix.Addr()) {
					applying[class] = append(applying[class], e)
				}
			}
			if !allowsEverything(applying[class], func(firewall.ACLEntry) bool { return true }) {
				rs.aclClass(set, uint32(class+1), applying[class])
			}
		}
		rs.addClasses(set, prefixes, func(class int) bool {
			return allowsEverything(applying[class], func(firewall.ACLEntry) bool { return true })
		})
	}
	return rs
}

// allowsEverything tells whether ordered entries allow every packet of the addresses for which
// covers holds: an all-protocols allow covering them, and no deny before it.
func allowsEverything(entries []firewall.ACLEntry, covers func(firewall.ACLEntry) bool) bool {
	for _, e := range entries {
		if !e.Allow {
			return false
		}
		if e.Rule.Protocol == firewall.AllProtocols && covers(e) {
			return true
		}
	}
	return false
}

// aclClass writes the verdicts of one address class, whose entries are apply in order.
func (rs *ruleSet) aclClass(set, peer uint32, apply []firewall.ACLEntry) {
	p := &peerRows{rs: rs, set: set, peer: peer}
	// Protocols named by no entry: the first all-protocols entry decides.
	anyAllows := firstAllows(apply, func(r firewall.Rule) bool { return r.Protocol == firewall.AllProtocols })
	p.anyProto(anyAllows)
	protos := map[int]bool{}
	for _, e := range apply {
		if e.Rule.Protocol != firewall.AllProtocols {
			protos[e.Rule.Protocol] = true
		}
	}
	for proto := range protos {
		relevant := func(r firewall.Rule) bool { return r.Protocol == firewall.AllProtocols || r.Protocol == proto }
		if !hasPorts(proto) {
			p.protocol(proto, firstAllows(apply, relevant), anyAllows)
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
		var allow [][2]int
		for i := 0; i+1 < len(cuts); i++ {
			lo, hi := cuts[i], cuts[i+1]-1
			if firstAllows(apply, func(r firewall.Rule) bool {
				rlo, rhi := fullSpan(r)
				return relevant(r) && rlo <= lo && hi <= rhi
			}) {
				allow = append(allow, [2]int{lo, hi})
			}
		}
		p.ports(proto, allow, anyAllows)
	}
}

// firstAllows tells whether the first of entries whose rule matches allows; none matching denies.
func firstAllows(entries []firewall.ACLEntry, match func(firewall.Rule) bool) bool {
	for _, e := range entries {
		if match(e.Rule) {
			return e.Allow
		}
	}
	return false
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
