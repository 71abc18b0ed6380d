package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/hostd/hostd/hostd/api"
	"github.com/hostd/hostd/hostd/probe"
)

// codeProbeFailed is the error code of a probe that ran but did not get through (no reply, nothing
// received): in a test of a protection, often the expected outcome.
const codeProbeFailed = "ProbeFailed"

func cmdProbe(args []string) error {
	return runVerb(&globals{output: "json"}, "probe", args, map[string]func(*globals, []string) error{
		"send": probeSend, "sniff": probeSniff, "listen": probeListen, "connect": probeConnect, "ping": probePing,
		"serve": probeServe, "bulk": probePerf(probe.Bulk), "rr": probePerf(probe.RequestResponse),
		"connrate": probeConnrate, "dns": probeDNSRate, "metadata": probeMetadataRate,
		"syscall": probeSyscall, "ptrace": probePtrace, "getfd": probeGetFD, "peek": probePeek, "hold": probeHold,
	})
}

// probeSyscall makes syscalls by name with harmless arguments and prints what each answered.
func probeSyscall(_ *globals, args []string) error {
	fs := newFlags("probe syscall")
	uids := fs.Int("as-uids", 0, "make each call once as each of fsuids 1..N")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		return usagef("usage: hostd probe syscall [--as-uids N] NAME...")
	}
	res, err := probe.Syscalls(fs.Args(), *uids)
	if err != nil {
		return api.Errorf(api.CodeInvalidParameterValue, "%v", err)
	}
	return printJSON(map[string]any{"Syscalls": res})
}

// pidFlag parses a probe that takes --pid (and maybe more flags).
func pidFlag(name string, args []string, more func(*flag.FlagSet)) (int, error) {
	fs := newFlags(name)
	pid := fs.Int("pid", 0, "target process")
	if more != nil {
		more(fs)
	}
	if err := parseNoArgs(fs, args); err != nil {
		return 0, err
	}
	if *pid <= 0 {
		return 0, api.Errorf(api.CodeMissingParameter, "--pid is required")
	}
	return *pid, nil
}

func probePtrace(_ *globals, args []string) error {
	pid, err := pidFlag("probe ptrace", args, nil)
	if err != nil {
		return err
	}
	if err := probe.Ptrace(pid); err != nil {
		return probeFailed(err)
	}
	return printJSON(map[string]any{"Pid": pid, "Attached": true})
}

func probeGetFD(_ *globals, args []string) error {
	var fd *int
	pid, err := pidFlag("probe getfd", args, func(fs *flag.FlagSet) { fd = fs.Int("fd", 0, "the target's descriptor") })
	if err != nil {
		return err
	}
	target, err := probe.GetFD(pid, *fd)
	if err != nil {
		return probeFailed(err)
	}
	return printJSON(map[string]any{"Pid": pid, "Fd": *fd, "Target": target})
}

func probePeek(_ *globals, args []string) error {
	pid, err := pidFlag("probe peek", args, nil)
	if err != nil {
		return err
	}
	mem, err := probe.Peek(pid)
	if err != nil {
		return probeFailed(err)
	}
	return printJSON(map[string]any{"Pid": pid, "Bytes": mem})
}

// probeHold keeps a device open in a way a detach might miss, then writes through it.
func probeHold(_ *globals, args []string) error {
	fs := newFlags("probe hold")
	path := fs.String("path", "", "the device (or file) to hold")
	how := fs.String("how", "fd", "fd, parked (in flight in a unix socket) or mmap")
	seconds := fs.Float64("seconds", 5, "how long to hold it before writing through it")
	ready := fs.String("ready", "", "a file to create once it is held")
	text := fs.String("write", "hostd-probe-held", "what to write at offset 0 afterwards")
	if err := parseNoArgs(fs, args); err != nil {
		return err
	}
	res, err := probe.Hold(*path, *how, time.Duration(*seconds*float64(time.Second)), *ready, *text)
	if err != nil {
		return probeFailed(err)
	}
	return printJSON(res)
}

// probeServe answers `probe bulk` and `probe rr` clients for a while.
func probeServe(_ *globals, args []string) error {
	fs := newFlags("probe serve")
	port := fs.Int("port", 5201, "TCP port")
	seconds := fs.Float64("seconds", 30, "how long to serve")
	if err := parseNoArgs(fs, args); err != nil {
		return err
	}
	if err := probe.Serve(*port, time.Duration(*seconds*float64(time.Second))); err != nil {
		return probeFailed(err)
	}
	return printJSON(map[string]any{"Served": true})
}

// probePerf runs a throughput or request/response measurement against a `probe serve`.
func probePerf(measure func(string, time.Duration) (*probe.PerfResult, error)) func(*globals, []string) error {
	return func(_ *globals, args []string) error {
		fs := newFlags("probe bulk|rr|connrate")
		addr := fs.String("addr", "", "IP:PORT of a `hostd probe serve`")
		seconds := fs.Float64("seconds", 3, "how long to measure")
		if err := parseNoArgs(fs, args); err != nil {
			return err
		}
		res, err := measure(*addr, time.Duration(*seconds*float64(time.Second)))
		if err != nil {
			return probeFailed(err)
		}
		return printJSON(res)
	}
}

// probeDNSRate measures queries per second and their latency against a resolver.
func probeDNSRate(_ *globals, args []string) error {
	fs := newFlags("probe dns")
	addr := fs.String("addr", "169.254.169.253:53", "IP:PORT of the resolver")
	name := fs.String("name", "", "the name to ask for, again and again (an A record)")
	seconds := fs.Float64("seconds", 3, "how long to measure")
	count := fs.Int("count", 0, "stop after this many queries (0: none; a guest may send 1024 a second)")
	if err := parseNoArgs(fs, args); err != nil {
		return err
	}
	res, err := probe.DNSRate(*addr, *name, time.Duration(*seconds*float64(time.Second)), *count)
	if err != nil {
		return probeFailed(err)
	}
	return printJSON(res)
}

// probeMetadataRate measures requests per second with a token against a metadata service.
func probeMetadataRate(_ *globals, args []string) error {
	fs := newFlags("probe metadata")
	base := fs.String("url", "http://169.254.169.254/latest/", "the service's /latest/ URL")
	seconds := fs.Float64("seconds", 3, "how long to measure")
	if err := parseNoArgs(fs, args); err != nil {
		return err
	}
	res, err := probe.MetadataRate(*base, time.Duration(*seconds*float64(time.Second)))
	if err != nil {
		return probeFailed(err)
	}
	return printJSON(res)
}

// probeConnrate opens connections one after another, for a while or a number of them.
func probeConnrate(_ *globals, args []string) error {
	fs := newFlags("probe connrate")
	addr := fs.String("addr", "", "IP:PORT of a TCP listener")
	seconds := fs.Float64("seconds", 3, "how long to go on")
	count := fs.Int64("count", -1, "stop after this many connections")
	if err := parseNoArgs(fs, args); err != nil {
		return err
	}
	res, err := probe.Connections(*addr, time.Duration(*seconds*float64(time.Second)), *count)
	if err != nil {
		return probeFailed(err)
	}
	return printJSON(res)
}

func printJSON(v any) error {
	data, err := json.MarshalIndent(v, "", "    ")
	if err == nil {
		fmt.Println(string(data))
	}
	return err
}

func probeFailed(err error) error { return api.Errorf(codeProbeFailed, "%v", err) }

func probeSend(_ *globals, args []string) error {
	fs := newFlags("probe send")
	iface := fs.String("iface", "eth0", "interface to send on")
	proto := fs.String("proto", "udp", "udp, tcp-syn, icmp, unreachable, arp or dhcp-offer")
	srcMAC := fs.String("src-mac", "", "source MAC (default: the interface's)")
	dstMAC := fs.String("dst-mac", probe.RouterMAC.String(), "destination MAC (default: hostd's router)")
	srcIP := fs.String("src-ip", "", "source IPv4 (default: the interface's)")
	dstIP := fs.String("dst-ip", "", "destination IPv4")
	sport := fs.Uint("sport", 40000, "source port")
	dport := fs.Uint("dport", 9, "destination port")
	arpOp := fs.String("arp-op", "request", "request or reply")
	arpTarget := fs.String("arp-target", "", "with --proto arp: the address asked about, or told to")
	count := fs.Int("count", 1, "frames to send")
	flows := fs.Bool("flows", false, "make each frame a new flow: source ports counting up, then destination ports")
	vlan := fs.Uint("vlan", 0, "tag the frame with this 802.1Q VLAN id")
	quoteSrc := fs.String("quote-src", "", "with --proto unreachable: IP:PORT that sent the UDP datagram reported on")
	quoteDst := fs.String("quote-dst", "", "with --proto unreachable: IP:PORT it was sent to")
	payload := fs.String("payload", "hostd-probe", "payload")
	if err := parseNoArgs(fs, args); err != nil {
		return err
	}
	ifc, ownIP, err := probe.Interface(*iface)
	if err != nil {
		return probeFailed(err)
	}
	f := probe.Frame{Proto: *proto, SrcMAC: ifc.HardwareAddr, SrcIP: ownIP, SrcPort: uint16(*sport), DstPort: uint16(*dport), Payload: []byte(*payload), VLAN: uint16(*vlan)}
	if *proto == "unreachable" {
		if f.Quote, err = quotedDatagram(*quoteSrc, *quoteDst); err != nil {
			return err
		}
	}
	if f.DstMAC, err = net.ParseMAC(*dstMAC); err != nil {
		return api.Errorf(api.CodeInvalidParameterValue, "--dst-mac: %v", err)
	}
	if *srcMAC != "" {
		if f.SrcMAC, err = net.ParseMAC(*srcMAC); err != nil {
			return api.Errorf(api.CodeInvalidParameterValue, "--src-mac: %v", err)
		}
	}
	for flag, p := range map[string]struct {
		in  string
		out *net.IP
	}{"--src-ip": {*srcIP, &f.SrcIP}, "--dst-ip": {*dstIP, &f.DstIP}, "--arp-target": {*arpTarget, &f.ARPTarget}} {
		if p.in == "" {
			continue
		}
		if *p.out = net.ParseIP(p.in).To4(); *p.out == nil {
			return api.Errorf(api.CodeInvalidParameterValue, "%s %q is not an IPv4 address", flag, p.in)
		}
	}
	f.ARPOp = probe.ARPRequest
	if *arpOp == "reply" {
		f.ARPOp = probe.ARPReply
	}
	if f.DstIP == nil && *proto != "arp" {
		return api.Errorf(api.CodeMissingParameter, "--dst-ip is required")
	}
	frame, err := f.Build()
	if err != nil {
		return api.Errorf(api.CodeInvalidParameterValue, "%v", err)
	}
	if err := probe.Send(ifc, probe.Frames(f, *count, *flows)); err != nil {
		return probeFailed(err)
	}
	return printJSON(map[string]any{"Sent": *count, "Proto": *proto, "SrcMac": f.SrcMAC.String(), "SrcIp": f.SrcIP.String(), "Bytes": len(frame)})
}

// quotedDatagram is the UDP datagram an ICMP error reports on, from --quote-src and --quote-dst.
func quotedDatagram(src, dst string) (*probe.Frame, error) {
	from, ferr := netip.ParseAddrPort(src)
	to, terr := netip.ParseAddrPort(dst)
	if ferr != nil || terr != nil || !from.Addr().Is4() || !to.Addr().Is4() {
		return nil, api.Errorf(api.CodeInvalidParameterValue, "--quote-src and --quote-dst: give IPv4:PORT each")
	}
	return &probe.Frame{Proto: "udp", SrcMAC: probe.RouterMAC, DstMAC: probe.RouterMAC,
		SrcIP: from.Addr().AsSlice(), DstIP: to.Addr().AsSlice(), SrcPort: from.Port(), DstPort: to.Port()}, nil
}

func probeSniff(_ *globals, args []string) error {
	fs := newFlags("probe sniff")
	iface := fs.String("iface", "eth0", "interface to sniff")
	seconds := fs.Float64("seconds", 2, "how long to capture")
	promisc := fs.Bool("promisc", true, "promiscuous mode")
	if err := parseNoArgs(fs, args); err != nil {
		return err
	}
	ifc, err := net.InterfaceByName(*iface)
	if err != nil {
		return probeFailed(err)
	}
	res, err := probe.Sniff(ifc, time.Duration(*seconds*float64(time.Second)), *promisc)
	if err != nil {
		return probeFailed(err)
	}
	return printJSON(res)
}

func probeListen(_ *globals, args []string) error {
	fs := newFlags("probe listen")
	proto := fs.String("proto", "tcp", "tcp or udp")
	port := fs.Int("port", 0, "port to listen on")
	timeout := fs.Duration("timeout", 5*time.Second, "how long to wait")
	if err := parseNoArgs(fs, args); err != nil {
		return err
	}
	res, err := probe.Listen(*proto, *port, *timeout)
	if err != nil {
		return probeFailed(err)
	}
	return printJSON(res)
}

func probeConnect(_ *globals, args []string) error {
	fs := newFlags("probe connect")
	proto := fs.String("proto", "tcp", "tcp or udp")
	addr := fs.String("addr", "", "IP:PORT to connect to")
	message := fs.String("message", "hello", "what to send")
	timeout := fs.Duration("timeout", 2*time.Second, "how long to wait for the reply")
	if err := parseNoArgs(fs, args); err != nil {
		return err
	}
	res, err := probe.Connect(*proto, *addr, *message, *timeout)
	if err != nil {
		return probeFailed(err)
	}
	return printJSON(res)
}

func probePing(_ *globals, args []string) error {
	fs := newFlags("probe ping")
	addr := fs.String("addr", "", "IPv4 address")
	timeout := fs.Duration("timeout", 2*time.Second, "how long to wait for the reply")
	if err := parseNoArgs(fs, args); err != nil {
		return err
	}
	res, err := probe.Ping(*addr, *timeout)
	if err != nil {
		return probeFailed(err)
	}
	return printJSON(res)
}
