package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/cilium/ebpf"
	"github.com/miekg/dns"

	"github.com/hostd/hostd/bpf"
	"github.com/hostd/hostd/hostd/probe"
	"github.com/hostd/hostd/vnet"
)

// benchServices measures the VPC resolver and the metadata service from one guest (`hostd probe
// dns` and `hostd probe metadata`, one request at a time), against the same client and a plain
// server on loopback in a namespace of its own: the cost of the way through the datapath, the
// services' namespace and the daemon's lookup of who asks.
func benchServices(w *bytes.Buffer, d *daemon) error {
	a, b, err := d.instancePair("10.210")
	if err != nil {
		return err
	}
	defer func() { _, _ = d.cli("instance", "terminate", a.InstanceId, b.InstanceId) }()
	plain, err := newPlainPair("svc")
	if err != nil {
		return err
	}
	defer plain.remove()
	stop, err := plainServices(plain, b.InstanceId)
	if err != nil {
		return err
	}
	defer stop()
	restore, err := raiseLinkLocalAllowance(d.fabric)
	if err != nil {
		return err
	}
	defer restore()

	inGuest := func(args ...string) *exec.Cmd {
		return exec.Command(d.bin, append([]string{"--socket", d.socket, "instance", "exec", a.InstanceId, "--", "hostd", "probe"}, args...)...)
	}
	name := b.InstanceId + ".ec2.internal"
	var dnsRuns, plainDNS, imdsRuns, plainIMDS []probe.PerfResult
	for range networkRuns {
		for _, m := range []struct {
			cmd *exec.Cmd
			out *[]probe.PerfResult
		}{
			{inGuest("dns", "--addr", "10.210.0.2:53", "--name", name, "--seconds", "2"), &dnsRuns},
			{plain.cmd("a", d.bin, "probe", "dns", "--addr", "127.0.0.1:53", "--name", name, "--seconds", "2"), &plainDNS},
			{inGuest("metadata", "--seconds", "2"), &imdsRuns},
			{plain.cmd("a", d.bin, "probe", "metadata", "--url", "http://127.0.0.1/latest/", "--seconds", "2"), &plainIMDS},
		} {
			out, err := m.cmd.Output()
			if err != nil {
				return fmt.Errorf("%v: %v", m.cmd.Args, err)
			}
			var res probe.PerfResult
			if err := json.Unmarshal(out, &res); err != nil {
				return err
			}
			*m.out = append(*m.out, res)
		}
	}
	rate := func(rs []probe.PerfResult) []float64 {
		var out []float64
		for _, r := range rs {
			out = append(out, r.PerSecond)
		}
		return out
	}
	micros := func(rs []probe.PerfResult, p99 bool) float64 {
		var out []float64
		for _, r := range rs {
			if p99 {
				out = append(out, float64(r.P99Micros))
			} else {
				out = append(out, float64(r.P50Micros))
			}
		}
		return median(out)
	}
	fmt.Fprintf(w, "## Guest services: the VPC resolver and the metadata service (issue 14)\n\n")
	fmt.Fprintf(w, "One guest asks, one request at a time: `hostd probe dns` the VPC resolver (VPC+2) for its neighbour's name (`i-….ec2.internal`, answered by the resolver itself), over UDP; `hostd probe metadata` the metadata service for `meta-data/instance-id` with an IMDSv2 token, over one keep-alive connection. The path: the datapath's steering and tag rewrite, the services' namespace, the daemon's server and its lookup of who asks (a map read in the pinned datapath, then the daemon's records), and back. Baseline: the same client against a plain server (miekg/dns, net/http, answering the same bytes) on loopback in a namespace of its own, run by the benchmark itself. %d runs of 2 s each, alternating; medians (range of the rates).\n\n", networkRuns)
	fmt.Fprintf(w, "| measurement | hostd, from a guest | plain loopback server | ratio of rates |\n|---|---|---|---|\n")
	for _, row := range []struct {
		what        string
		mine, plain []probe.PerfResult
	}{{"DNS queries/s, VPC name", dnsRuns, plainDNS}, {"metadata requests/s, with a token", imdsRuns, plainIMDS}} {
		m, p := median(rate(row.mine)), median(rate(row.plain))
		fmt.Fprintf(w, "| %s | %.0f (%s); p50 %.0f µs, p99 %.0f µs | %.0f (%s); p50 %.0f µs, p99 %.0f µs | **%.0f%%** |\n", row.what,
			m, spread(rate(row.mine), "%.0f"), micros(row.mine, false), micros(row.mine, true),
			p, spread(rate(row.plain), "%.0f"), micros(row.plain, false), micros(row.plain, true), 100*m/p)
	}
	fmt.Fprintf(w, "\nIn service a guest is held to 1024 packets a second to the resolver and the metadata service together, as EC2 holds an interface (a query is one packet, a request on a kept-alive connection one or two; past the allowance the datapath drops and counts `linklocal_allowance_exceeded`): one client asking one question at a time is held to it. These figures are measured with the allowance raised (in the pinned datapath, for this benchmark's daemon alone), so that they show the path's cost, not the limit.\n\n")
	return nil
}

// plainServices serves the baseline in side a of the pair: a DNS server on 127.0.0.1:53 that
// answers every A question with one address, and an HTTP server on 127.0.0.1:80 that answers
// every request with id (and a PUT with a token of a token's length).
func plainServices(p *plainPair, id string) (stop func(), err error) {
	var pc net.PacketConn
	var ln net.Listener
	err = vnet.InNetns("/run/netns/"+p.a, func() error {
		if pc, err = net.ListenPacket("udp4", "127.0.0.1:53"); err != nil {
			return err
		}
		ln, err = net.Listen("tcp4", "127.0.0.1:80")
		return err
	})
	if err != nil {
		if pc != nil {
			pc.Close()
		}
		return nil, err
	}
	dnsServer := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, req *dns.Msg) {
		resp := new(dns.Msg).SetReply(req)
		resp.Authoritative, resp.RecursionAvailable = true, true
		q := req.Question[0]
		resp.Answer = []dns.RR{&dns.A{Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60}, A: net.IPv4(10, 210, 0, 5)}}
		_ = w.WriteMsg(resp)
	})}
	httpServer := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		if r.Method == http.MethodPut {
			_, _ = w.Write(bytes.Repeat([]byte("t"), 80))
			return
		}
		_, _ = w.Write([]byte(id))
	}), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = dnsServer.ActivateAndServe() }()
	go func() { _ = httpServer.Serve(ln) }()
	return func() { _ = dnsServer.Shutdown(); _ = httpServer.Close() }, nil
}

// raiseLinkLocalAllowance lifts the services' per-interface allowance in fabric's pinned datapath,
// and returns what puts it back.
func raiseLinkLocalAllowance(fabric string) (restore func(), err error) {
	m, err := ebpf.LoadPinnedMap(filepath.Join(vnet.PinDir(fabric), "svc_settings"), nil)
	if err != nil {
		return nil, err
	}
	var cfg bpf.DatapathSvcConfig
	if err := m.Lookup(uint32(0), &cfg); err != nil {
		m.Close()
		return nil, err
	}
	raised := cfg
	raised.LinklocalPps = 1 << 30
	if err := m.Put(uint32(0), raised); err != nil {
		m.Close()
		return nil, err
	}
	return func() { _ = m.Put(uint32(0), cfg); m.Close() }, nil
}
