package main

import (
	"context"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/miekg/dns"

	"github.com/hostd/hostd/hostd/api"
	"github.com/hostd/hostd/hostd/daemon"
	"github.com/hostd/hostd/hostd/ec2api"
	"github.com/hostd/hostd/hostd/findings"
	"github.com/hostd/hostd/hostd/guest"
	"github.com/hostd/hostd/memscrub"
	"github.com/hostd/hostd/vnet"
)

// daemonConfig parses the flags serve and teardown share.
func daemonConfig(name string, args []string) (daemon.Config, error) {
	cfg := daemon.Config{}
	fs := newFlags(name)
	fs.StringVar(&cfg.StateDir, "state-dir", defaultStateDir(), "directory of the state file and instance files")
	fs.StringVar(&cfg.Socket, "socket", defaultSocket(), "unix socket of the API")
	fs.StringVar(&cfg.Fabric, "fabric", "hostd", "name of the daemon's network namespace (hostd-NAME)")
	ramPool := fs.String("ram-pool", "1GiB", "the most guest RAM the daemon owns (SIZE)")
	scrub := fs.String("scrub", "on", "on, or off to demonstrate remanence (released memory is not zeroed)")
	fs.IntVar(&cfg.ScrubWorkers, "scrub-workers", 1, "background scrubbers")
	scrubRate := fs.String("scrub-rate", "0", "each scrubber's cap in bytes per second (SIZE; 0: none)")
	fs.StringVar(&cfg.DiskStore, "disk-store", "", "the volumes' backing store: a file (created sparse) or a block device (default STATE-DIR/disk.img)")
	diskSize := fs.String("disk-size", "16GiB", "size of a file disk store (SIZE)")
	fs.IntVar(&cfg.ConntrackMax, "conntrack-max", vnet.DefaultConntrackLimit, "most conntrack entries the firewall holds, every instance's allowance reserved in it: a launch whose allowance does not fit is refused")
	fs.StringVar(&cfg.Listen, "listen", "", "serve signed calls over TCP at ADDR (HOST:PORT); off when not given")
	fs.StringVar(&cfg.TLSCert, "tls-cert", "", "with --tls-key: serve --listen with TLS, with this certificate (PEM)")
	fs.StringVar(&cfg.TLSKey, "tls-key", "", "the private key (PEM) of --tls-cert")
	fs.StringVar(&cfg.Region, "region", daemon.DefaultRegion, "the region signatures on --listen are scoped to")
	fs.IntVar(&cfg.FlowRecords, "flow-records", 0, "most flows the datapath counts per second for flow logs, counters and findings (default and most: 32768); past it, SKIPDATA")
	fs.StringVar(&cfg.MetricsListen, "metrics-listen", "", "serve Prometheus metrics at http://ADDR/metrics (HOST:PORT, or :PORT for loopback)")
	cfg.Findings = findings.DefaultThresholds()
	fs.DurationVar(&cfg.Findings.Window, "finding-window", cfg.Findings.Window, "findings: how long a source is watched; each finding is raised once per window per source")
	fs.IntVar(&cfg.Findings.PortscanPorts, "portscan-ports", cfg.Findings.PortscanPorts, "Recon:EC2/Portscan: more distinct ports than this of one instance, mostly rejected")
	fs.IntVar(&cfg.Findings.PortscanInstances, "portscan-instances", cfg.Findings.PortscanInstances, "Recon:EC2/Portscan: or more instances than this")
	fs.IntVar(&cfg.Findings.ProbeConnections, "probe-connections", cfg.Findings.ProbeConnections, "Recon:EC2/PortProbeUnprotectedPort: more connections than this from one source to a port open to 0.0.0.0/0")
	fs.Uint64Var(&cfg.Findings.FloodPacketsPerSecond, "flood-pps", cfg.Findings.FloodPacketsPerSecond, "Backdoor:EC2/DenialOfService.Udp|.Tcp: more packets per second than this from one instance")
	fs.Uint64Var(&cfg.Findings.SpoofDrops, "spoof-drops", cfg.Findings.SpoofDrops, "Behavior:EC2/SpoofingAttempt: more spoofed frames dropped than this from one instance")
	wipe := fs.String("wipe", "fast", "how a deleted volume is zeroed: fast (zero-range or punch-hole) or overwrite (zeros written)")
	upstreams := fs.String("dns-upstream", "", "the resolvers the VPC resolver forwards to, ADDR[:PORT] separated by commas, or none (default: the host's /etc/resolv.conf)")
	upstreamNetns := fs.String("dns-upstream-netns", "", "a network namespace (a name under /run/netns) to reach the upstreams from (default: the daemon's own)")
	if err := parseNoArgs(fs, args); err != nil {
		return cfg, err
	}
	var err error
	if cfg.RAMPoolBytes, err = api.ParseSizeFlag("--ram-pool", *ramPool); err != nil {
		return cfg, err
	}
	if cfg.ScrubRate, err = api.ParseSizeFlag("--scrub-rate", *scrubRate); err != nil {
		return cfg, err
	}
	if *scrub != "on" && *scrub != "off" {
		return cfg, api.Errorf(api.CodeInvalidParameterValue, "--scrub takes on or off, not %q", *scrub)
	}
	cfg.Scrub = *scrub == "on"
	if cfg.DiskSize, err = api.ParseSizeFlag("--disk-size", *diskSize); err != nil {
		return cfg, err
	}
	if *wipe != "fast" && *wipe != "overwrite" {
		return cfg, api.Errorf(api.CodeInvalidParameterValue, "--wipe takes fast or overwrite, not %q", *wipe)
	}
	cfg.Wipe = memscrub.WipeMode(*wipe)
	if cfg.DNSUpstreams, err = dnsUpstreams(*upstreams); err != nil {
		return cfg, err
	}
	if *upstreamNetns != "" {
		if !validFabricName(*upstreamNetns) {
			return cfg, api.Errorf(api.CodeInvalidParameterValue, "--dns-upstream-netns %q: name a namespace under /run/netns", *upstreamNetns)
		}
		cfg.DNSUpstreamNetns = filepath.Join("/run/netns", *upstreamNetns)
	}
	if cfg.ScrubWorkers < 1 || cfg.ScrubWorkers > 64 {
		return cfg, api.Errorf(api.CodeInvalidParameterValue, "--scrub-workers %d: give 1 to 64", cfg.ScrubWorkers)
	}
	if cfg.Findings.Window < time.Second || cfg.Findings.PortscanPorts < 1 || cfg.Findings.PortscanInstances < 1 || cfg.Findings.ProbeConnections < 1 {
		return cfg, api.Errorf(api.CodeInvalidParameterValue, "--finding-window takes 1s or more, --portscan-ports, --portscan-instances and --probe-connections 1 or more")
	}
	if cfg.ConntrackMax < 1 || cfg.ConntrackMax > vnet.MaxConntrackLimit {
		return cfg, api.Errorf(api.CodeInvalidParameterValue, "--conntrack-max %d: give 1 to %d", cfg.ConntrackMax, vnet.MaxConntrackLimit)
	}
	if (cfg.TLSCert == "") != (cfg.TLSKey == "") {
		return cfg, usagef("--tls-cert and --tls-key go together")
	}
	if !validFabricName(cfg.Fabric) {
		return cfg, usagef("--fabric %q: use 1 to 32 letters, digits, '-' or '_'", cfg.Fabric)
	}
	// This very binary, by its host path (resolved here, host side, never a guest's): instances'
	// inits are the daemon's own code.
	exe, err := os.Executable()
	if err != nil {
		return cfg, err
	}
	cfg.InitPath = exe
	cfg.Log = slog.New(slog.NewTextHandler(os.Stderr, nil))
	return cfg, nil
}

// dnsUpstreams reads --dns-upstream: "" for the host's resolv.conf, "none", or a list.
func dnsUpstreams(flag string) ([]string, error) {
	switch flag {
	case "none":
		return nil, nil
	case "":
		conf, err := dns.ClientConfigFromFile("/etc/resolv.conf")
		if err != nil {
			return nil, nil // no resolv.conf: no upstream, as a host without one has none
		}
		var out []string
		for _, s := range conf.Servers {
			out = append(out, net.JoinHostPort(s, conf.Port))
		}
		return out, nil
	}
	var out []string
	for _, s := range strings.Split(flag, ",") {
		if ap, err := netip.ParseAddrPort(s); err == nil && ap.Addr().Is4() {
			out = append(out, ap.String())
		} else if a, err := netip.ParseAddr(s); err == nil && a.Is4() {
			out = append(out, netip.AddrPortFrom(a, 53).String())
		} else {
			return nil, api.Errorf(api.CodeInvalidParameterValue, "--dns-upstream %q: give IPv4 ADDR[:PORT] separated by commas, or none", s)
		}
	}
	return out, nil
}

func validFabricName(s string) bool {
	if len(s) == 0 || len(s) > 32 {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

func cmdServe(args []string) error {
	cfg, err := daemonConfig("serve", args)
	if err != nil {
		return err
	}
	// Whatever this process inherited must not reach instances.
	if err := guest.CloseOnExecFrom(3); err != nil {
		return err
	}
	d, err := daemon.Open(cfg)
	if err != nil {
		return err
	}
	defer d.Close()
	if cfg.Listen != "" {
		mountEC2(d, cfg)
	}
	// SIGTERM and SIGINT stop the daemon; instances keep running and the next daemon adopts them.
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	return d.Serve(ctx)
}

// mountEC2 serves EC2's Query API (the AWS CLI's, the SDKs' and Terraform's wire format) at / on
// the network listener: the same core, signatures, policies and trail as the native API.
func mountEC2(d *daemon.Daemon, cfg daemon.Config) {
	scheme := "http://"
	if cfg.TLSCert != "" {
		scheme = "https://"
	}
	d.MountEC2(ec2api.NewRouter(d, scheme+cfg.Listen, cfg.Log))
}

func cmdTeardown(args []string) error {
	cfg, err := daemonConfig("teardown", args)
	if err != nil {
		return err
	}
	return daemon.Teardown(cfg)
}
