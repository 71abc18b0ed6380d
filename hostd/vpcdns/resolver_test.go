package vpcdns

import (
	"log/slog"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// recorder is a dns.ResponseWriter that keeps the answer.
type recorder struct {
	remote net.Addr
	msg    *dns.Msg
}

func (r *recorder) LocalAddr() net.Addr {
	return &net.UDPAddr{IP: net.IPv4(169, 254, 169, 253), Port: 53}
}
func (r *recorder) RemoteAddr() net.Addr        { return r.remote }
func (r *recorder) WriteMsg(m *dns.Msg) error   { r.msg = m; return nil }
func (r *recorder) Write(b []byte) (int, error) { return len(b), nil }
func (r *recorder) Close() error                { return nil }
func (r *recorder) TsigStatus() error           { return nil }
func (r *recorder) TsigTimersOnly(bool)         {}
func (r *recorder) Hijack()                     {}

var (
	askerA = netip.MustParseAddr("100.64.0.5")
	askerB = netip.MustParseAddr("100.64.0.6")
)

// Two VPCs with the same CIDR and the same address, each with its own instance there.
func testResolver() *Resolver {
	views := map[netip.Addr]View{
		askerA: {EnableDnsSupport: true, EnableDnsHostnames: true, CIDR: netip.MustParsePrefix("10.0.0.0/16"),
			Hosts: []Host{{"i-0aaaaaaaaaaaaaaaa", netip.MustParseAddr("10.0.1.4")}}},
		askerB: {EnableDnsSupport: true, EnableDnsHostnames: true, CIDR: netip.MustParsePrefix("10.0.0.0/16"),
			Hosts: []Host{{"i-0bbbbbbbbbbbbbbbb", netip.MustParseAddr("10.0.1.4")}}},
	}
	return &Resolver{Directory: func(a netip.Addr) (View, bool) { v, ok := views[a]; return v, ok }, ForwardTimeout: 50 * time.Millisecond,
		Log: slog.New(slog.DiscardHandler)}
}

func ask(r *Resolver, asker netip.Addr, name string, qtype uint16) *dns.Msg {
	req := new(dns.Msg).SetQuestion(name, qtype)
	w := &recorder{remote: &net.UDPAddr{IP: asker.AsSlice(), Port: 4000}}
	r.ServeDNS(w, req)
	return w.msg
}

func TestEachVPCAnswersItsOwn(t *testing.T) {
	r := testResolver()
	m := ask(r, askerA, "I-0aaaaaaaaaaaaaaaa.ec2.internal.", dns.TypeA)
	require.Equal(t, dns.RcodeSuccess, m.Rcode)
	assert.Equal(t, "10.0.1.4", m.Answer[0].(*dns.A).A.String())
	assert.Equal(t, dns.RcodeNameError, ask(r, askerA, "i-0bbbbbbbbbbbbbbbb.ec2.internal.", dns.TypeA).Rcode)
	assert.Equal(t, dns.RcodeSuccess, ask(r, askerB, "i-0bbbbbbbbbbbbbbbb.ec2.internal.", dns.TypeA).Rcode)
	m = ask(r, askerB, "4.1.0.10.in-addr.arpa.", dns.TypePTR)
	assert.Equal(t, "ip-10-0-1-4.ec2.internal.", m.Answer[0].(*dns.PTR).Ptr)
	assert.Equal(t, dns.RcodeNameError, ask(r, askerB, "5.1.0.10.in-addr.arpa.", dns.TypePTR).Rcode)
	m = ask(r, askerA, "ip-10-0-1-4.ec2.internal.", dns.TypeAAAA)
	assert.Equal(t, dns.RcodeSuccess, m.Rcode)
	assert.Empty(t, m.Answer, "no IPv6 record, the name exists")
	assert.Equal(t, dns.RcodeRefused, ask(r, netip.MustParseAddr("10.0.1.4"), "ip-10-0-1-4.ec2.internal.", dns.TypeA).Rcode, "not a tag")
	assert.Equal(t, dns.RcodeServerFailure, ask(r, askerA, "example.org.", dns.TypeA).Rcode, "no upstream")
}

func TestNameFiles(t *testing.T) {
	vpc := netip.MustParsePrefix("172.31.0.0/16")
	assert.Equal(t, "172.31.0.2", ResolverAddr(vpc).String())
	assert.Contains(t, string(ResolvConf(ResolverAddr(vpc))), "nameserver 172.31.0.2\nsearch ec2.internal\n")
	assert.Contains(t, string(ResolvConf(netip.Addr{})), "nameserver 127.0.0.1\n")
	assert.Contains(t, string(Hosts("i-0aaaaaaaaaaaaaaaa", netip.MustParseAddr("172.31.5.9"))),
		"172.31.5.9\ti-0aaaaaaaaaaaaaaaa i-0aaaaaaaaaaaaaaaa.ec2.internal ip-172-31-5-9.ec2.internal ip-172-31-5-9\n")
}

// FuzzServeDNS: whatever a guest sends that parses as DNS, the resolver answers without
// panicking, with the query's id, and an answer that packs.
func FuzzServeDNS(f *testing.F) {
	r := testResolver()
	for _, q := range []*dns.Msg{new(dns.Msg).SetQuestion("i-0aaaaaaaaaaaaaaaa.ec2.internal.", dns.TypeA),
		new(dns.Msg).SetQuestion("4.1.0.10.in-addr.arpa.", dns.TypePTR)} {
		b, _ := q.Pack()
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, packet []byte) {
		req := new(dns.Msg)
		if req.Unpack(packet) != nil {
			return
		}
		w := &recorder{remote: &net.UDPAddr{IP: askerA.AsSlice(), Port: 4000}}
		r.ServeDNS(w, req)
		require.NotNil(t, w.msg)
		assert.Equal(t, req.Id, w.msg.Id)
		_, err := w.msg.Pack()
		assert.NoError(t, err)
	})
}
