package vnet

import (
	"cmp"
	"net/netip"
	"slices"

	"github.com/hostd/hostd/bpf"
	"github.com/hostd/hostd/firewall"
)

// The rule maps' peer field, protocol and verdicts (datapath.h).
const (
	peerEgress   = uint32(bpf.DatapathRulePeerPEER_EGRESS)
	peerGroup    = uint32(bpf.DatapathRulePeerPEER_GROUP)
	protoAny     = int(bpf.DatapathRuleProtocolPROTO_ANY)
	verdictDeny  = uint8(bpf.DatapathVerdictVERDICT_DENY)
	verdictAllow = uint8(bpf.DatapathVerdictVERDICT_ALLOW)
)

// ruleSet is a compiled rule set: the entries of its four maps (datapath.h, "Compiled rules").
// For each peer (address class or group) it has a verdict per protocol it names, and for
// protocols with ports, the blocks of 256 ports whose verdicts are not all that one.
type ruleSet struct {
	addrs   map[bpf.DatapathRuleAddrKey]uint32
	lengths map[bpf.DatapathRuleLengthsKey]bpf.DatapathPrefixLengths
	protos  map[bpf.DatapathRuleProtoKey]bpf.DatapathRuleProto
	buckets map[bpf.DatapathRuleBucketKey]bpf.DatapathRuleBucket
}

func newRuleSet() *ruleSet {
	return &ruleSet{
		addrs:   map[bpf.DatapathRuleAddrKey]uint32{},
		lengths: map[bpf.DatapathRuleLengthsKey]bpf.DatapathPrefixLengths{},
		protos:  map[bpf.DatapathRuleProtoKey]bpf.DatapathRuleProto{},
		buckets: map[bpf.DatapathRuleBucketKey]bpf.DatapathRuleBucket{},
	}
}

func (rs *ruleSet) size() int {
	return len(rs.addrs) + len(rs.lengths) + len(rs.protos) + len(rs.buckets)
}

// classes gives each CIDR of prefixes a class (1, 2, ...) in the set and direction, and records
// the prefix lengths to probe, longest first.
func (rs *ruleSet) classes(set, dir uint32, prefixes []netip.Prefix) {
	var lengths []int
	for i, p := range prefixes {
		rs.addrs[bpf.DatapathRuleAddrKey{Set: set, Dir: dir, Addr: ipKey(p.Addr().AsSlice()), Len: uint8(p.Bits())}] = uint32(i + 1)
		lengths = append(lengths, p.Bits())
	}
	if len(lengths) == 0 {
		return
	}
	slices.Sort(lengths)
	lengths = slices.Compact(lengths)
	slices.Reverse(lengths)
	var l bpf.DatapathPrefixLengths
	l.Count = uint8(len(lengths))
	for i, n := range lengths {
		l.Len[i] = uint8(n)
	}
	rs.lengths[bpf.DatapathRuleLengthsKey{Set: set, Dir: dir}] = l
}

// verdict records the verdict of every port of proto (or of protocols named nowhere: protoAny).
func (rs *ruleSet) verdict(set, peer uint32, proto int, v uint8) {
	rs.protos[bpf.DatapathRuleProtoKey{Set: set, Peer: peer, Proto: uint16(proto)}] = bpf.DatapathRuleProto{Verdict: v}
}

// portVerdicts records proto's ports: those in allow (sorted, disjoint spans) are allowed, the
// others denied. The commoner verdict goes in rule_protos, the blocks that differ in rule_buckets.
func (rs *ruleSet) portVerdicts(set, peer uint32, proto int, allow [][2]int) {
	var bits [1024]uint64 // one per 64 ports
	allowed := 0
	for _, a := range allow {
		for p := a[0]; p <= a[1]; p++ {
			bits[p/64] |= 1 << (p % 64)
		}
		allowed += a[1] - a[0] + 1
	}
	common := verdictDeny
	fill := uint64(0)
	if allowed > 0x8000 {
		common, fill = verdictAllow, ^uint64(0)
	}
	buckets := false
	for block := range 256 {
		var b bpf.DatapathRuleBucket
		copy(b.Allow[:], bits[block*4:block*4+4])
		if b.Allow == [4]uint64{fill, fill, fill, fill} {
			continue
		}
		rs.buckets[bpf.DatapathRuleBucketKey{Set: set, Peer: peer, Proto: uint16(proto), Block: uint8(block)}] = b
		buckets = true
	}
	key := bpf.DatapathRuleProtoKey{Set: set, Peer: peer, Proto: uint16(proto)}
	rs.protos[key] = bpf.DatapathRuleProto{Verdict: common, Buckets: boolByte(buckets)}
}

func boolByte(b bool) uint8 {
	if b {
		return 1
	}
	return 0
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
		prefixes := sortedPrefixes(byCIDR)
		rs.classes(set, dir, prefixes)
		for class, prefix := range prefixes {
			var rules []firewall.Rule
			for _, outer := range containing(prefix, byCIDR) {
				rules = append(rules, byCIDR[outer]...)
			}
			rs.allow(set, dir|uint32(class+1), rules)
		}
	}
	return rs
}

// allow records what rules admit from (or to) peer. Rules are allow-only and unioned: an
// all-protocols rule admits everything, and a protocol's port ranges merge.
func (rs *ruleSet) allow(set, peer uint32, rules []firewall.Rule) {
	if slices.ContainsFunc(rules, func(r firewall.Rule) bool { return r.Protocol == firewall.AllProtocols }) {
		rs.verdict(set, peer, protoAny, verdictAllow)
		return
	}
	spans := map[int][][2]int{}
	for _, r := range rules {
		lo, hi, ok := portSpan(r)
		if !ok {
			rs.verdict(set, peer, r.Protocol, verdictAllow)
			continue
		}
		spans[r.Protocol] = append(spans[r.Protocol], [2]int{lo, hi})
	}
	for proto, ss := range spans {
		rs.portVerdicts(set, peer, proto, mergeSpans(ss))
	}
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
		prefixes := sortedPrefixes(byCIDR)
		rs.classes(set, dir, prefixes)
		for class, prefix := range prefixes {
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
	rs.verdict(set, peer, protoAny, firstVerdict(apply, func(r firewall.Rule) bool { return r.Protocol == firewall.AllProtocols }))
	protos := map[int]bool{}
	for _, e := range apply {
		if e.Rule.Protocol != firewall.AllProtocols {
			protos[e.Rule.Protocol] = true
		}
	}
	for proto := range protos {
		relevant := func(r firewall.Rule) bool { return r.Protocol == firewall.AllProtocols || r.Protocol == proto }
		if _, _, ok := portSpan(firewall.Rule{Protocol: proto}); !ok {
			rs.verdict(set, peer, proto, firstVerdict(apply, relevant))
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
			v := firstVerdict(apply, func(r firewall.Rule) bool {
				rlo, rhi := fullSpan(r)
				return relevant(r) && rlo <= lo && hi <= rhi
			})
			if v == verdictAllow {
				allow = append(allow, [2]int{lo, hi})
			}
		}
		rs.portVerdicts(set, peer, proto, allow)
	}
}

func firstVerdict(entries []firewall.ACLEntry, match func(firewall.Rule) bool) uint8 {
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
