package firewall

import (
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

var (
	web   = netip.MustParseAddr("10.0.1.10")
	web2  = netip.MustParseAddr("10.0.1.11")
	db    = netip.MustParseAddr("10.0.2.20")
	other = netip.MustParseAddr("10.0.1.12")
)

func cidr(s string) netip.Prefix { return netip.MustParsePrefix(s) }

func allOut() []Rule {
	return []Rule{{Protocol: AllProtocols, From: -1, To: -1, CIDR: cidr("0.0.0.0/0")}}
}

// A VPC's default group: inbound from its own members, all outbound. A new group: nothing in.
func groups() (def, webSG, dbSG *SecurityGroup) {
	def = &SecurityGroup{ID: "sg-default", Ingress: []Rule{{Protocol: AllProtocols, From: -1, To: -1, Group: "sg-default"}}, Egress: allOut()}
	webSG = &SecurityGroup{ID: "sg-web", Egress: allOut()}
	dbSG = &SecurityGroup{ID: "sg-db", Ingress: []Rule{{Protocol: TCP, From: 5432, To: 5432, Group: "sg-web"}}, Egress: allOut()}
	return
}

type clock struct{ t time.Time }

func (c *clock) now() time.Time          { return c.t }
func (c *clock) advance(d time.Duration) { c.t = c.t.Add(d) }
func newEval(members map[string][]netip.Addr, maxFlows int) (*Evaluator, *clock) {
	c := &clock{t: time.Unix(1_000_000, 0)}
	e := NewEvaluator(func(g string, a netip.Addr) bool {
		for _, m := range members[g] {
			if m == a {
				return true
			}
		}
		return false
	}, maxFlows)
	e.Now = c.now
	return e, c
}

func syn(src, dst netip.Addr, sport, dport int) Packet {
	return Packet{Protocol: TCP, Src: src, Dst: dst, SrcPort: sport, DstPort: dport, SYN: true}
}

func TestGroupsAndReturnTraffic(t *testing.T) {
	def, webSG, dbSG := groups()
	e, _ := newEval(map[string][]netip.Addr{"sg-web": {web, web2}, "sg-default": {web, other}}, 100)
	acl := DefaultACL()
	W := Endpoint{Addr: web, Subnet: "a", ACL: acl, Groups: []*SecurityGroup{webSG, def}}
	O := Endpoint{Addr: other, Subnet: "a", ACL: acl, Groups: []*SecurityGroup{def}}
	D := Endpoint{Addr: db, Subnet: "b", ACL: acl, Groups: []*SecurityGroup{dbSG}}

	assert.Equal(t, Allowed, e.Forward(syn(web, db, 40000, 5432), W, D), "web to the database's port")
	assert.Equal(t, ReasonSGIngress, e.Forward(syn(web, db, 40001, 22), W, D), "web to another port")
	assert.Equal(t, ReasonSGIngress, e.Forward(syn(other, db, 40000, 5432), O, D), "a non-member")
	// The reply needs no rule: db's SYN-ACK and web's ACK belong to the tracked flow.
	assert.Equal(t, Allowed, e.Forward(Packet{Protocol: TCP, Src: db, Dst: web, SrcPort: 5432, DstPort: 40000, SYN: true, ACK: true}, D, W))
	assert.Equal(t, Allowed, e.Forward(Packet{Protocol: TCP, Src: web, Dst: db, SrcPort: 40000, DstPort: 5432, ACK: true}, W, D))
	// The default group lets its members in, from each other only; the union of groups counts.
	assert.Equal(t, Allowed, e.Forward(syn(other, web, 1, 80), O, W))
	assert.Equal(t, ReasonSGIngress, e.Forward(syn(db, web, 1, 80), D, W))
}

func TestRemovedRuleLeavesTrackedFlowsAlone(t *testing.T) {
	_, webSG, dbSG := groups()
	e, _ := newEval(map[string][]netip.Addr{"sg-web": {web}}, 100)
	W := Endpoint{Addr: web, Subnet: "a", ACL: DefaultACL(), Groups: []*SecurityGroup{webSG}}
	D := Endpoint{Addr: db, Subnet: "b", ACL: DefaultACL(), Groups: []*SecurityGroup{dbSG}}
	assert.Equal(t, Allowed, e.Forward(syn(web, db, 40000, 5432), W, D))
	dbSG.Ingress = nil // revoked
	assert.Equal(t, Allowed, e.Forward(Packet{Protocol: TCP, Src: web, Dst: db, SrcPort: 40000, DstPort: 5432, ACK: true}, W, D), "the established flow continues")
	assert.Equal(t, ReasonSGIngress, e.Forward(syn(web, db, 40002, 5432), W, D), "a new connection is refused")
}

func TestUntrackedTCPIsInvalidUnlessARuleAllowsIt(t *testing.T) {
	_, webSG, dbSG := groups()
	e, _ := newEval(map[string][]netip.Addr{"sg-web": {web}}, 100)
	W := Endpoint{Addr: web, Subnet: "a", ACL: DefaultACL(), Groups: []*SecurityGroup{webSG}}
	D := Endpoint{Addr: db, Subnet: "b", ACL: DefaultACL(), Groups: []*SecurityGroup{dbSG}}
	ack := Packet{Protocol: TCP, Src: db, Dst: web, SrcPort: 5432, DstPort: 40000, ACK: true}
	assert.Equal(t, ReasonCTInvalid, e.Forward(ack, D, W))
	// Allowed anyway by a rule, as EC2 would.
	webSG.Ingress = []Rule{{Protocol: TCP, From: 0, To: 65535, CIDR: cidr("10.0.2.0/24")}}
	assert.Equal(t, Allowed, e.Forward(ack, D, W))
}

func TestNetworkACLs(t *testing.T) {
	open := &SecurityGroup{ID: "sg-open", Ingress: []Rule{{Protocol: AllProtocols, From: -1, To: -1, CIDR: cidr("0.0.0.0/0")}}, Egress: allOut()}
	e, _ := newEval(nil, 100)
	// Subnet b's ACL: deny 10.0.1.11 (rule 90) ahead of allowing 10.0.1.0/24 (rule 100).
	bACL := &NetworkACL{Entries: []ACLEntry{
		{Number: 100, Allow: true, Rule: Rule{Protocol: AllProtocols, From: -1, To: -1, CIDR: cidr("10.0.1.0/24")}},
		{Number: 90, Allow: false, Rule: Rule{Protocol: AllProtocols, From: -1, To: -1, CIDR: cidr("10.0.1.11/32")}},
	}}
	W := Endpoint{Addr: web, Subnet: "a", ACL: DefaultACL(), Groups: []*SecurityGroup{open}}
	W2 := Endpoint{Addr: web2, Subnet: "a", ACL: DefaultACL(), Groups: []*SecurityGroup{open}}
	O := Endpoint{Addr: other, Subnet: "a", ACL: &NetworkACL{}, Groups: []*SecurityGroup{open}} // a new ACL: denies all
	D := Endpoint{Addr: db, Subnet: "b", ACL: bACL, Groups: []*SecurityGroup{open}}

	assert.Equal(t, Allowed, e.Forward(syn(web, db, 1, 5432), W, D))
	assert.Equal(t, ReasonNACLIn, e.Forward(syn(web2, db, 1, 5432), W2, D), "the deny at 90 comes first")
	// Stateless: the reply leaves subnet b, and b's ACL has no outbound rule.
	assert.Equal(t, ReasonNACLOut, e.Forward(Packet{Protocol: TCP, Src: db, Dst: web, SrcPort: 5432, DstPort: 1, SYN: true, ACK: true}, D, W))
	// Within a subnet no ACL applies: O's deny-all ACL does not stop W reaching O.
	assert.Equal(t, Allowed, e.Forward(syn(web, other, 1, 80), W, O))
}

func TestConntrackTimeoutsAndFullTable(t *testing.T) {
	open := &SecurityGroup{ID: "sg-open", Egress: allOut()}
	closed := &SecurityGroup{ID: "sg-closed", Egress: allOut()}
	e, c := newEval(nil, 2)
	A := Endpoint{Addr: web, Subnet: "a", ACL: DefaultACL(), Groups: []*SecurityGroup{closed}}
	B := Endpoint{Addr: db, Subnet: "a", ACL: DefaultACL(), Groups: []*SecurityGroup{open}}
	open.Ingress = []Rule{{Protocol: UDP, From: 53, To: 53, CIDR: cidr("0.0.0.0/0")}}
	q := Packet{Protocol: UDP, Src: web, Dst: db, SrcPort: 5000, DstPort: 53}
	reply := Packet{Protocol: UDP, Src: db, Dst: web, SrcPort: 53, DstPort: 5000}
	assert.Equal(t, Allowed, e.Forward(q, A, B))
	c.advance(29 * time.Second)
	assert.Equal(t, Allowed, e.Forward(reply, B, A), "a reply within 30 s")
	c.advance(170 * time.Second) // a stream now: 180 s
	assert.Equal(t, Allowed, e.Forward(reply, B, A))
	c.advance(181 * time.Second)
	assert.Equal(t, ReasonSGIngress, e.Forward(reply, B, A), "expired")

	// The table holds two flows: a third new one is refused, the tracked ones go on.
	e2, c2 := newEval(nil, 2)
	for port := range 2 {
		assert.Equal(t, Allowed, e2.Forward(Packet{Protocol: UDP, Src: web, Dst: db, SrcPort: 6000 + port, DstPort: 53}, A, B))
	}
	fresh := Packet{Protocol: UDP, Src: web, Dst: db, SrcPort: 7000, DstPort: 53}
	assert.Equal(t, ReasonCTFull, e2.Forward(fresh, A, B))
	assert.Equal(t, Allowed, e2.Forward(Packet{Protocol: UDP, Src: db, Dst: web, SrcPort: 53, DstPort: 6000}, B, A))
	// An expired flow holds its place until it is collected.
	c2.advance(31 * time.Second)
	assert.Equal(t, ReasonCTFull, e2.Forward(fresh, A, B))
	e2.Collect()
	assert.Equal(t, 1, e2.Flows())
	assert.Equal(t, Allowed, e2.Forward(fresh, A, B))
}

func TestICMPErrorsAndFragments(t *testing.T) {
	open := &SecurityGroup{ID: "sg-open", Ingress: []Rule{{Protocol: UDP, From: 0, To: 65535, CIDR: cidr("0.0.0.0/0")}}, Egress: allOut()}
	closed := &SecurityGroup{ID: "sg-closed", Egress: allOut()}
	e, _ := newEval(nil, 100)
	A := Endpoint{Addr: web, Subnet: "a", ACL: DefaultACL(), Groups: []*SecurityGroup{closed}}
	B := Endpoint{Addr: db, Subnet: "a", ACL: DefaultACL(), Groups: []*SecurityGroup{open}}
	q := Packet{Protocol: UDP, Src: web, Dst: db, SrcPort: 5000, DstPort: 9}
	assert.Equal(t, Allowed, e.Forward(q, A, B))
	unreach := Packet{Protocol: ICMP, Src: db, Dst: web, ICMPType: 3, ICMPCode: 3, Embedded: &q}
	assert.Equal(t, Allowed, e.Forward(unreach, B, A), "an ICMP error about a tracked flow is related")
	stranger := Packet{Protocol: UDP, Src: web, Dst: db, SrcPort: 5999, DstPort: 9}
	assert.Equal(t, ReasonSGIngress, e.Forward(Packet{Protocol: ICMP, Src: db, Dst: web, ICMPType: 3, Embedded: &stranger}, B, A))

	// Fragments take their first fragment's verdict.
	first := Packet{Protocol: UDP, Src: db, Dst: web, SrcPort: 1, DstPort: 2, FragID: 7, MoreFrags: true}
	assert.Equal(t, ReasonSGIngress, e.Forward(first, B, A))
	assert.Equal(t, ReasonFrag, e.Forward(Packet{Protocol: UDP, Src: db, Dst: web, FragID: 7, FragOffset: 185}, B, A))
	okFirst := Packet{Protocol: UDP, Src: web, Dst: db, SrcPort: 1, DstPort: 2, FragID: 8, MoreFrags: true}
	assert.Equal(t, Allowed, e.Forward(okFirst, A, B))
	assert.Equal(t, Allowed, e.Forward(Packet{Protocol: UDP, Src: web, Dst: db, FragID: 8, FragOffset: 185}, A, B))
	assert.Equal(t, ReasonFrag, e.Forward(Packet{Protocol: UDP, Src: web, Dst: db, FragID: 9, FragOffset: 185}, A, B))
}

// A connection closed both ways leaves the table soon; one half-closed keeps its timeout.
func TestClosedConnectionsLeaveTheTable(t *testing.T) {
	open := &SecurityGroup{ID: "sg-open", Ingress: []Rule{{Protocol: TCP, From: 80, To: 80, CIDR: cidr("0.0.0.0/0")}}, Egress: allOut()}
	e, c := newEval(nil, 100)
	A := Endpoint{Addr: web, Subnet: "a", ACL: DefaultACL(), Groups: []*SecurityGroup{open}}
	B := Endpoint{Addr: db, Subnet: "a", ACL: DefaultACL(), Groups: []*SecurityGroup{open}}
	out := func(p Packet) Packet { p.Src, p.Dst, p.SrcPort, p.DstPort = web, db, 5000, 80; return p }
	back := func(p Packet) Packet { p.Src, p.Dst, p.SrcPort, p.DstPort = db, web, 80, 5000; return p }
	assert.Equal(t, Allowed, e.Forward(out(Packet{Protocol: TCP, SYN: true}), A, B))
	assert.Equal(t, Allowed, e.Forward(back(Packet{Protocol: TCP, SYN: true, ACK: true}), B, A))
	assert.Equal(t, Allowed, e.Forward(out(Packet{Protocol: TCP, ACK: true, FIN: true}), A, B))
	c.advance(60 * time.Second)
	assert.Equal(t, Allowed, e.Forward(back(Packet{Protocol: TCP, ACK: true}), B, A), "half closed: still established")
	assert.Equal(t, Allowed, e.Forward(back(Packet{Protocol: TCP, ACK: true, FIN: true}), B, A))
	c.advance(10 * time.Second)
	assert.Equal(t, ReasonCTInvalid, e.Forward(back(Packet{Protocol: TCP, ACK: true}), B, A), "closed both ways: gone after 10 s")
}

// Each interface opens flows against its own allowance: one that floods fills its own share,
// and another still opens flows; a reset or a collection gives the share back.
func TestConntrackAllowancePerInterface(t *testing.T) {
	open := &SecurityGroup{ID: "sg-open", Ingress: []Rule{{Protocol: AllProtocols, From: -1, To: -1, CIDR: cidr("0.0.0.0/0")}}, Egress: allOut()}
	e, c := newEval(nil, 10)
	A := Endpoint{Addr: web, Subnet: "a", ACL: DefaultACL(), Groups: []*SecurityGroup{open}, ConntrackAllowance: 3}
	B := Endpoint{Addr: db, Subnet: "a", ACL: DefaultACL(), Groups: []*SecurityGroup{open}, ConntrackAllowance: 3}
	for port := range 3 {
		assert.Equal(t, Allowed, e.Forward(Packet{Protocol: UDP, Src: web, Dst: db, SrcPort: 6000 + port, DstPort: 53}, A, B))
	}
	assert.Equal(t, ReasonCTAllowance, e.Forward(Packet{Protocol: UDP, Src: web, Dst: db, SrcPort: 6100, DstPort: 53}, A, B))
	assert.Equal(t, ReasonCTAllowance, e.Forward(Packet{Protocol: UDP, Src: web, Dst: db, SrcPort: 6101, DstPort: 53, FragID: 1, MoreFrags: true}, A, B), "a first fragment's record counts too")
	assert.Equal(t, Allowed, e.Forward(syn(db, web, 1, 80), B, A), "the other interface opens its own")
	assert.Equal(t, Allowed, e.Forward(Packet{Protocol: UDP, Src: db, Dst: web, SrcPort: 53, DstPort: 6000}, B, A), "answers need no allowance")
	assert.Equal(t, 3, e.Opened(web))
	assert.Equal(t, 1, e.Opened(db))

	// A reset ends a flow at once, and gives its place back.
	assert.Equal(t, Allowed, e.Forward(Packet{Protocol: TCP, Src: web, Dst: db, SrcPort: 80, DstPort: 1, RST: true, ACK: true}, A, B))
	assert.Equal(t, 0, e.Opened(db))
	c.advance(31 * time.Second)
	e.Collect()
	assert.Equal(t, 1, e.Opened(web), "the unanswered flows expired after 30 s; the answered one lasts 180 s")
	assert.Equal(t, Allowed, e.Forward(Packet{Protocol: UDP, Src: web, Dst: db, SrcPort: 6100, DstPort: 53}, A, B))
}

// An ICMP error is related only when it comes back along its flow, about a packet the flow's
// initiator sent, and quotes that packet whole; any other is judged by the rules.
func TestICMPErrorsComeBackAlongTheirFlow(t *testing.T) {
	open := &SecurityGroup{ID: "sg-open", Ingress: []Rule{{Protocol: UDP, From: 0, To: 65535, CIDR: cidr("0.0.0.0/0")}}, Egress: allOut()}
	closed := &SecurityGroup{ID: "sg-closed", Egress: allOut()}
	router := netip.MustParseAddr("10.0.1.1")
	e, _ := newEval(nil, 100)
	A := Endpoint{Addr: web, Subnet: "a", Router: router, ACL: DefaultACL(), Groups: []*SecurityGroup{closed}}
	B := Endpoint{Addr: db, Subnet: "b", ACL: DefaultACL(), Groups: []*SecurityGroup{open}}
	O := Endpoint{Addr: other, Subnet: "a", ACL: DefaultACL(), Groups: []*SecurityGroup{open}}
	q := Packet{Protocol: UDP, Src: web, Dst: db, SrcPort: 5000, DstPort: 9}
	assert.Equal(t, Allowed, e.Forward(q, A, B))
	unreach := func(src netip.Addr, quoted Packet) Packet {
		return Packet{Protocol: ICMP, Src: src, Dst: web, ICMPType: 3, ICMPCode: 3, Embedded: &quoted}
	}
	assert.Equal(t, Allowed, e.Forward(unreach(db, q), B, A), "from the flow's responder")
	assert.Equal(t, Allowed, e.Forward(unreach(router, q), O, A), "from the router of the initiator's subnet")
	assert.Equal(t, ReasonSGIngress, e.Forward(unreach(other, q), O, A), "from a third party naming the flow")

	reply := Packet{Protocol: UDP, Src: db, Dst: web, SrcPort: 9, DstPort: 5000}
	assert.Equal(t, ReasonSGIngress, e.Forward(unreach(db, reply), B, A), "about a packet the initiator did not send")
	for name, mangle := range map[string]func(*Packet){
		"header under 5 words":        func(p *Packet) { p.IHL = 4 },
		"total length under 28 bytes": func(p *Packet) { p.TotalLength = 27 },
		"a later fragment":            func(p *Packet) { p.FragOffset = 185 },
	} {
		bad := q
		mangle(&bad)
		assert.Equal(t, ReasonSGIngress, e.Forward(unreach(db, bad), B, A), name)
	}
	withOptions := q
	withOptions.IHL = 6
	assert.Equal(t, Allowed, e.Forward(unreach(db, withOptions), B, A), "a quote with IP options")
	short := unreach(db, q)
	short.TotalLength = 20 + 8 + 20 + 7
	assert.Equal(t, ReasonSGIngress, e.Forward(short, B, A), "an error claiming less than its quote")
	// An error opens no flow, even when a rule lets it in.
	assert.Equal(t, 1, e.Flows())
}
