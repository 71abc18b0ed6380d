// Command bench measures hostd on this machine and writes BENCHMARKS.md: each figure beside the
// baseline it is compared against, measured in the same run, as medians and ratios.
//
//	go run ./scripts/bench -hostd bin/hostd -out BENCHMARKS.md
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"log"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/hostd/hostd/hostd/api"
)

func main() {
	bin := flag.String("hostd", "bin/hostd", "hostd binary")
	out := flag.String("out", "BENCHMARKS.md", "report to write")
	n := flag.Int("n", 50, "sequential launches per measurement")
	only := flag.String("only", "", "run only these sections (comma-separated: launch, density, network, datapath, flowlogs, rules, updates, netfilter, scrub, ramlaunch, wipe, controlplane, services, ec2)")
	flag.Parse()
	if os.Geteuid() != 0 {
		log.Fatal("bench needs root")
	}
	hostd, err := filepath.Abs(*bin)
	if err != nil {
		log.Fatal(err)
	}
	d, err := startDaemon(hostd, "")
	if err != nil {
		log.Fatal(err)
	}
	defer d.stop()

	var report bytes.Buffer
	fmt.Fprintf(&report, "# hostd benchmarks\n\nWritten by `make bench` on %s. Every figure is measured in one run on this machine, beside the baseline it is compared with. These machines are noisy: read medians and ratios, not single runs.\n\n", time.Now().UTC().Format("2006-01-02 15:04 MST"))
	fmt.Fprintf(&report, "## Machine\n\n%s\n", machine())
	sections := []struct {
		name string
		run  func() error
	}{
		{"launch", func() error { return benchLaunch(&report, d, *n) }},
		{"density", func() error { return benchDensity(&report, d) }},
		{"network", func() error { return benchNetwork(&report, d) }},
		{"datapath", func() error { return benchDatapathCost(&report) }},
		{"flowlogs", func() error { return benchFlowLogs(&report, d) }},
		{"rules", func() error { return benchRuleScaling(&report) }},
		{"updates", func() error { return benchRuleUpdates(&report, d) }},
		{"netfilter", func() error { return benchAgainstNetfilter(&report, d) }},
		{"scrub", func() error { return benchScrub(&report) }},
		{"ramlaunch", func() error { return benchRAMLaunch(&report, d) }},
		{"wipe", func() error { return benchWipe(&report) }},
		{"controlplane", func() error { return benchControlPlane(&report, hostd) }},
		{"services", func() error { return benchServices(&report, d) }},
		{"ec2", func() error { return benchEC2(&report, hostd) }},
	}
	for _, s := range sections {
		if *only != "" && !slices.Contains(strings.Split(*only, ","), s.name) {
			continue
		}
		log.Printf("measuring %s", s.name)
		if err := s.run(); err != nil {
			d.stop() // log.Fatal skips deferred calls
			log.Fatalf("%s: %v", s.name, err)
		}
	}
	if err := os.WriteFile(*out, report.Bytes(), 0o644); err != nil {
		d.stop()
		log.Fatal(err)
	}
	fmt.Print(report.String())
}

// daemon is a throwaway hostd for the benchmarks.
type daemon struct {
	bin, dir, socket, fabric string
	cmd                      *exec.Cmd
	client                   *api.Client
}

// startDaemon starts a daemon of its own; tag tells its fabric from another one's.
func startDaemon(bin, tag string, serveArgs ...string) (*daemon, error) {
	dir, err := os.MkdirTemp("/var/tmp", "hostd-bench-")
	if err != nil {
		return nil, err
	}
	d := &daemon{bin: bin, dir: dir, socket: filepath.Join(dir, "hostd.sock"), fabric: fmt.Sprintf("bench%d%s", os.Getpid(), tag)}
	d.cmd = exec.Command(bin, "serve", "--state-dir", filepath.Join(dir, "state"), "--socket", d.socket, "--fabric", d.fabric, "--ram-pool", "4GiB", "--scrub-workers", "2")
	d.cmd.Args = append(d.cmd.Args, serveArgs...)
	logFile, err := os.Create(filepath.Join(dir, "daemon.log"))
	if err != nil {
		return nil, err
	}
	d.cmd.Stderr = logFile
	if err := d.cmd.Start(); err != nil {
		return nil, err
	}
	d.client = api.NewClient(d.socket)
	for range 2000 {
		var out api.DescribeInstancesResponse
		if d.client.Call(context.Background(), http.MethodGet, "/v1/instances", nil, &out) == nil {
			return d, nil
		}
		time.Sleep(time.Millisecond) // the first launches after a start are measured: no lag here
	}
	d.stop()
	return nil, fmt.Errorf("daemon did not start; see %s/daemon.log", dir)
}

func (d *daemon) stop() {
	_ = d.cmd.Process.Signal(syscall.SIGTERM)
	_ = d.cmd.Wait()
	td := exec.Command(d.bin, "teardown", "--state-dir", filepath.Join(d.dir, "state"), "--socket", d.socket, "--fabric", d.fabric)
	if out, err := td.CombinedOutput(); err != nil {
		log.Printf("teardown: %v\n%s", err, out)
	}
	os.RemoveAll(d.dir)
}

// cli runs the hostd CLI against the daemon and returns its stdout.
func (d *daemon) cli(args ...string) (string, error) {
	cmd := exec.Command(d.bin, append([]string{"--socket", d.socket}, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("hostd %v: %v: %s", args, err, stderr.String())
	}
	return string(out), nil
}

func (d *daemon) launchCLI() (string, time.Duration, error) {
	start := time.Now()
	out, err := d.cli("instance", "run", "--", "sleep", "3600")
	elapsed := time.Since(start)
	if err != nil {
		return "", 0, err
	}
	id, _, _ := strings.Cut(out[strings.Index(out, "i-"):], "\"")
	return id, elapsed, nil
}

// stats are the order statistics of a sample.
type stats struct{ p50, p99, min time.Duration }

func summarize(ds []time.Duration) stats {
	s := slices.Clone(ds)
	slices.Sort(s)
	at := func(q float64) time.Duration { return s[min(len(s)-1, int(q*float64(len(s))))] }
	return stats{p50: at(0.50), p99: at(0.99), min: s[0]}
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond)) }

// machine describes the host the figures come from.
func machine() string {
	var uts syscall.Utsname
	_ = syscall.Uname(&uts)
	cpu := "unknown"
	if data, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(data), "\n") {
			if strings.HasPrefix(line, "model name") {
				cpu = strings.TrimSpace(line[strings.Index(line, ":")+1:])
				break
			}
		}
	}
	var si syscall.Sysinfo_t
	_ = syscall.Sysinfo(&si)
	return fmt.Sprintf("- kernel: %s\n- CPU: %s, %d cores\n- memory: %.1f GiB\n- Go: %s\n- cgroups: %s\n",
		charsToString(uts.Release[:]), cpu, runtime.NumCPU(), float64(si.Totalram)*float64(si.Unit)/(1<<30), runtime.Version(), cgroupLayout())
}

func cgroupLayout() string {
	if _, err := os.Stat("/sys/fs/cgroup/cgroup.controllers"); err == nil {
		return "v2 (unified)"
	}
	return "v1 (hybrid or legacy)"
}

func charsToString(ca []int8) string {
	b := make([]byte, 0, len(ca))
	for _, c := range ca {
		if c == 0 {
			break
		}
		b = append(b, byte(c))
	}
	return string(b)
}
