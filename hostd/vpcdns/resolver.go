package vpcdns

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"
)

// View is what the resolver knows for one query: the VPC of the interface that asked, and who is
// in it. Another VPC's interfaces are not in it, whatever their addresses.
type View struct {
	// EnableDnsSupport off: the resolver refuses the VPC's queries, as EC2's does.
	EnableDnsSupport bool
	// EnableDnsHostnames off: no private names are answered (the rest is still forwarded).
	EnableDnsHostnames bool
	CIDR               netip.Prefix
	Hosts              []Host
}

// Host is an instance's interface in a VPC.
type Host struct {
	InstanceID string
	IP         netip.Addr
}

// Directory gives the view of the VPC whose interface is asker (the address a query came from,
// an interface's tag); false if asker is no interface's.
type Directory func(asker netip.Addr) (View, bool)

// Resolver answers the VPCs' queries: the private names of the asker's VPC itself, the rest by
// forwarding to the upstream resolvers.
type Resolver struct {
	Directory Directory
	// Upstreams are "host:port" addresses, asked in order. None: every forwarded query fails.
	Upstreams []string
	// Dial opens a connection to an upstream ("udp" or "tcp") within timeout; nil dials from
	// this process's network namespace. The daemon dials from its own, or from the one
	// --dns-upstream-netns names.
	Dial func(network, address string, timeout time.Duration) (net.Conn, error)
	// ForwardTimeout bounds forwarding, all upstreams together: past it the guest gets SERVFAIL,
	// well within its first timeout (resolv.conf's 2 s), rather than nothing.
	ForwardTimeout time.Duration
	Log            *slog.Logger

	// silent remembers when each upstream last failed to answer: for silentFor after, it is not
	// asked. A guest's resolver asks again at once on SERVFAIL (glibc up to its attempts, 5 in
	// the guest's resolv.conf), and asks for each address family in turn; none of these may
	// wait out a dead upstream again. (RFC 2308, 7.1, lets a resolver remember a server
	// failure for up to five minutes.)
	mu     sync.Mutex
	silent map[string]time.Time
}

// silentFor is how long an upstream that did not answer is left alone.
const silentFor = 2 * time.Second

// TTL of the private names, as EC2's.
const TTL = 60

// maxUDPAnswer is the largest UDP answer sent: what a 1500-byte path carries unfragmented (the
// DNS flag day's 1232); a longer answer is truncated, and the client asks again over TCP.
const maxUDPAnswer = 1232

// Serve answers on pc (UDP) and ln (TCP), both in the services namespace, until ctx is done.
func (r *Resolver) Serve(ctx context.Context, pc net.PacketConn, ln net.Listener) {
	servers := []*dns.Server{
		{PacketConn: pc, Handler: r, UDPSize: dns.DefaultMsgSize},
		{Listener: ln, Handler: r, ReadTimeout: 2 * time.Second, WriteTimeout: 2 * time.Second},
	}
	for _, s := range servers {
		go func() {
			if err := s.ActivateAndServe(); err != nil && ctx.Err() == nil {
				r.Log.Error("the VPC resolver stopped", "err", err)
			}
		}()
	}
	<-ctx.Done()
	for _, s := range servers {
		_ = s.Shutdown()
	}
}

// ServeDNS answers one query.
func (r *Resolver) ServeDNS(w dns.ResponseWriter, req *dns.Msg) {
	resp := r.answer(w, req)
	resp.RecursionAvailable = true
	if _, udp := w.LocalAddr().(*net.UDPAddr); udp {
		size := dns.MinMsgSize
		if opt := req.IsEdns0(); opt != nil {
			size = min(int(opt.UDPSize()), maxUDPAnswer)
		}
		resp.Truncate(size)
	}
	_ = w.WriteMsg(resp)
}

func (r *Resolver) answer(w dns.ResponseWriter, req *dns.Msg) *dns.Msg {
	resp := new(dns.Msg)
	asker, ok := addrOf(w.RemoteAddr())
	view, known := r.Directory(asker)
	switch {
	case !ok || !known || !view.EnableDnsSupport:
		return resp.SetRcode(req, dns.RcodeRefused)
	case req.Opcode != dns.OpcodeQuery || len(req.Question) != 1:
		return resp.SetRcode(req, dns.RcodeNotImplemented)
	}
	q := req.Question[0]
	if own, rcode := view.private(q); own {
		resp.SetRcode(req, rcode)
		resp.Authoritative = true
		resp.Answer = view.answers(q)
		return resp
	}
	fwd, err := r.forward(w.LocalAddr().Network(), req)
	if err != nil {
		r.Log.Debug("forwarding a guest's query failed", "name", q.Name, "err", err)
		return resp.SetRcode(req, dns.RcodeServerFailure)
	}
	fwd.Id = req.Id
	return fwd
}

// answering lists the upstreams not known to be silent.
func (r *Resolver) answering() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, u := range r.Upstreams {
		if at, ok := r.silent[u]; !ok || time.Since(at) >= silentFor {
			out = append(out, u)
		}
	}
	return out
}

// noteSilent records that upstream did not answer in time.
func (r *Resolver) noteSilent(upstream string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.silent == nil {
		r.silent = map[string]time.Time{}
	}
	r.silent[upstream] = time.Now()
}

// private tells whether q is the VPC's to answer (its domain, or a reverse name inside its
// CIDR), and with which code.
func (v View) private(q dns.Question) (bool, int) {
	name := strings.ToLower(q.Name)
	if dns.IsSubDomain(Domain+".", name) {
		if v.host(name).IsValid() {
			return true, dns.RcodeSuccess
		}
		return true, dns.RcodeNameError
	}
	if ip, ok := reverseAddr(name); ok && v.CIDR.Contains(ip) {
		if v.nameOf(ip) != "" {
			return true, dns.RcodeSuccess
		}
		return true, dns.RcodeNameError
	}
	return false, 0
}

// answers are the records of q, a name of the VPC's (private said so).
func (v View) answers(q dns.Question) []dns.RR {
	name := strings.ToLower(q.Name)
	hdr := dns.RR_Header{Name: q.Name, Class: dns.ClassINET, Ttl: TTL}
	if ip := v.host(name); ip.IsValid() && (q.Qtype == dns.TypeA || q.Qtype == dns.TypeANY) {
		hdr.Rrtype = dns.TypeA
		return []dns.RR{&dns.A{Hdr: hdr, A: ip.AsSlice()}}
	}
	if ip, ok := reverseAddr(name); ok && (q.Qtype == dns.TypePTR || q.Qtype == dns.TypeANY) {
		hdr.Rrtype = dns.TypePTR
		return []dns.RR{&dns.PTR{Hdr: hdr, Ptr: v.nameOf(ip) + "."}}
	}
	return nil // the name is there, with no record of that type
}

// host is the address of a private name (ip-10-0-1-11.ec2.internal., i-….ec2.internal.), if
// an interface of the VPC has it.
func (v View) host(name string) netip.Addr {
	if !v.EnableDnsHostnames {
		return netip.Addr{}
	}
	label := strings.TrimSuffix(name, "."+Domain+".")
	for _, h := range v.Hosts {
		if label == h.InstanceID || name == PrivateName(h.IP)+"." {
			return h.IP
		}
	}
	return netip.Addr{}
}

// nameOf is the private name of ip, if an interface of the VPC has it.
func (v View) nameOf(ip netip.Addr) string {
	if !v.EnableDnsHostnames {
		return ""
	}
	for _, h := range v.Hosts {
		if h.IP == ip {
			return PrivateName(ip)
		}
	}
	return ""
}

// reverseAddr reads an IPv4 reverse name (11.1.0.10.in-addr.arpa.).
func reverseAddr(name string) (netip.Addr, bool) {
	rest, ok := strings.CutSuffix(name, ".in-addr.arpa.")
	labels := strings.Split(rest, ".")
	if !ok || len(labels) != 4 {
		return netip.Addr{}, false
	}
	ip, err := netip.ParseAddr(labels[3] + "." + labels[2] + "." + labels[1] + "." + labels[0])
	return ip, err == nil && ip.Is4()
}

func addrOf(a net.Addr) (netip.Addr, bool) {
	switch a := a.(type) {
	case *net.UDPAddr:
		ip, ok := netip.AddrFromSlice(a.IP)
		return ip.Unmap(), ok
	case *net.TCPAddr:
		ip, ok := netip.AddrFromSlice(a.IP)
		return ip.Unmap(), ok
	}
	return netip.Addr{}, false
}

var errNoUpstream = errors.New("no upstream resolver answered")

// forward asks the upstreams in turn, over the network the query came by, within ForwardTimeout.
func (r *Resolver) forward(network string, req *dns.Msg) (*dns.Msg, error) {
	deadline := time.Now().Add(r.ForwardTimeout)
	dial := r.Dial
	if dial == nil {
		dial = DialHere
	}
	err := errNoUpstream
	upstreams := r.answering()
	for i, upstream := range upstreams {
		// Each has its share of what is left, so that a silent first one leaves time for the rest.
		share := time.Until(deadline) / time.Duration(len(upstreams)-i)
		if share <= 0 {
			break
		}
		var resp *dns.Msg
		if resp, err = exchange(dial, network, upstream, req, share); err == nil {
			return resp, nil
		}
		var netErr net.Error
		if errors.As(err, &netErr) && netErr.Timeout() {
			r.noteSilent(upstream)
		}
	}
	return nil, err
}

// DialHere dials from this process's network namespace.
func DialHere(network, address string, timeout time.Duration) (net.Conn, error) {
	return (&net.Dialer{Timeout: timeout}).Dial(network, address)
}

func exchange(dial func(string, string, time.Duration) (net.Conn, error), network, upstream string, req *dns.Msg, timeout time.Duration) (*dns.Msg, error) {
	c, err := dial(network, upstream, timeout)
	if err != nil {
		return nil, err
	}
	conn := &dns.Conn{Conn: c, UDPSize: dns.DefaultMsgSize}
	defer conn.Close()
	client := &dns.Client{Net: network, Timeout: timeout, UDPSize: dns.DefaultMsgSize}
	resp, _, err := client.ExchangeWithConn(req.Copy(), conn)
	return resp, err
}
