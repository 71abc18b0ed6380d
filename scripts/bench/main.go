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
	"sync"
	"syscall"
	"time"

	"github.com/hostd/hostd/hostd/api"
)

func main() {
	bin := flag.String("hostd", "bin/hostd", "hostd binary")
	out := flag.String("out", "BENCHMARKS.md", "report to write")
	n := flag.Int("n", 50, "sequential launches per measurement")
	only := flag.String("only", "", "run only these sections (comma-separated: launch, network, datapath, rules, updates, netfilter, scrub, ramlaunch, wipe, controlplane)")
	flag.Parse()
	if os.Geteuid() != 0 {
		log.Fatal("bench needs root")
	}
	hostd, err := filepath.Abs(*bin)
	if err != nil {
		log.Fatal(err)
	}
	d, err := startDaemon(hostd)
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
		{"network", func() error { return benchNetwork(&report, d) }},
		{"datapath", func() error { return benchDatapathCost(&report) }},
		{"rules", func() error { return benchRuleScaling(&report) }},
		{"updates", func() error { return benchRuleUpdates(&report, d) }},
		{"netfilter", func() error { return benchAgainstNetfilter(&report, d) }},
		{"scrub", func() error { return benchScrub(&report) }},
		{"ramlaunch", func() error { return benchRAMLaunch(&report, d) }},
		{"wipe", func() error { return benchWipe(&report) }},
		{"controlplane", func() error { return benchControlPlane(&report) }},
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

func startDaemon(bin string) (*daemon, error) {
	dir, err := os.MkdirTemp("/var/tmp", "hostd-bench-")
	if err != nil {
		return nil, err
	}
	d := &daemon{bin: bin, dir: dir, socket: filepath.Join(dir, "hostd.sock"), fabric: fmt.Sprintf("bench%d", os.Getpid())}
	d.cmd = exec.Command(bin, "serve", "--state-dir", filepath.Join(dir, "state"), "--socket", d.socket, "--fabric", d.fabric, "--ram-pool", "4GiB", "--scrub-workers", "2")
	logFile, err := os.Create(filepath.Join(dir, "daemon.log"))
	if err != nil {
		return nil, err
	}
	d.cmd.Stderr = logFile
	if err := d.cmd.Start(); err != nil {
		return nil, err
	}
	d.client = api.NewClient(d.socket)
	for range 200 {
		var out api.DescribeInstancesResponse
		if d.client.Call(context.Background(), http.MethodGet, "/v1/instances", nil, &out) == nil {
			return d, nil
		}
		time.Sleep(25 * time.Millisecond)
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

func benchLaunch(w *bytes.Buffer, d *daemon, n int) error {
	// Warm up the page cache, the daemon, and the RAM pool: every launch below, through the CLI
	// or the API, then finds a scrubbed region of its size, as in steady state. (What fresh
	// memory costs a launch is measured on its own, in the RAM section.)
	var warm []string
	for range n {
		id, _, err := d.launchCLI()
		if err != nil {
			return err
		}
		warm = append(warm, id)
	}
	if _, err := d.cli(append([]string{"instance", "terminate"}, warm...)...); err != nil {
		return err
	}
	if err := d.waitScrubbed(); err != nil {
		return err
	}

	var launch, terminate, apiLaunch, baseline []time.Duration
	var ids []string
	for range n {
		id, took, err := d.launchCLI()
		if err != nil {
			return err
		}
		launch = append(launch, took)
		ids = append(ids, id)
	}
	for _, id := range ids {
		start := time.Now()
		if _, err := d.cli("instance", "terminate", id); err != nil {
			return err
		}
		terminate = append(terminate, time.Since(start))
	}
	// The daemon's share alone: the API call without the CLI process around it, from the same
	// warm pool.
	if err := d.waitScrubbed(); err != nil {
		return err
	}
	ids = ids[:0]
	for range n {
		var out api.RunInstanceResponse
		start := time.Now()
		req := api.RunInstanceRequest{Command: []string{"sleep", "3600"}}
		if err := d.client.Call(context.Background(), http.MethodPost, "/v1/instances", req, &out); err != nil {
			return err
		}
		apiLaunch = append(apiLaunch, time.Since(start))
		ids = append(ids, out.InstanceId)
	}
	if _, err := d.cli(append([]string{"instance", "terminate"}, ids...)...); err != nil {
		return err
	}
	for range n {
		start := time.Now()
		if out, err := unshareBaseline().CombinedOutput(); err != nil {
			return fmt.Errorf("unshare baseline: %v: %s", err, out)
		}
		baseline = append(baseline, time.Since(start))
	}
	if err := d.waitScrubbed(); err != nil {
		return err
	}
	rate, err := concurrentRate(d, 2, n)
	if err != nil {
		return err
	}
	baseRate, err := baselineRate(2, n)
	if err != nil {
		return err
	}

	l, t, a, b := summarize(launch), summarize(terminate), summarize(apiLaunch), summarize(baseline)
	fmt.Fprintf(w, "## Instance launch and terminate (issue 2)\n\n")
	fmt.Fprintf(w, "%d sequential instances running `sleep 3600`, default limits (a 16 MiB RAM region each, from a pool warmed and scrubbed beforehand, as in steady state). Launch is timed from the start of `hostd instance run` to its exit, which happens once the workload runs; terminate from the start of `hostd instance terminate` to its exit, which happens once every process, cgroup and file of the instance is gone. The baseline is `unshare --user --pid --mount --uts --ipc --net --fork true`: the same namespaces with no cgroup, no root filesystem and no daemon.\n\n", n)
	fmt.Fprintf(w, "| measurement | p50 | p99 | min | p50 vs baseline |\n|---|---|---|---|---|\n")
	fmt.Fprintf(w, "| `hostd instance run` (CLI, end to end) | %s | %s | %s | %.1f× |\n", ms(l.p50), ms(l.p99), ms(l.min), float64(l.p50)/float64(b.p50))
	fmt.Fprintf(w, "| launch through the API (daemon only) | %s | %s | %s | %.1f× |\n", ms(a.p50), ms(a.p99), ms(a.min), float64(a.p50)/float64(b.p50))
	fmt.Fprintf(w, "| `hostd instance terminate` (CLI) | %s | %s | %s | %.1f× |\n", ms(t.p50), ms(t.p99), ms(t.min), float64(t.p50)/float64(b.p50))
	fmt.Fprintf(w, "| baseline: `unshare … --fork true` | %s | %s | %s | 1.0× |\n\n", ms(b.p50), ms(b.p99), ms(b.min))
	fmt.Fprintf(w, "With 2 concurrent launchers (%d launches each, CLI): **%.1f launches/s**, against %.1f/s for 2 concurrent `unshare` loops (%.0f%%).\n\n", n/2, rate, baseRate, 100*rate/baseRate)
	fmt.Fprintf(w, "Target: p50 launch under 20 ms on 2 cores (crun: about 5–17 ms per container; Firecracker: about 125 ms per microVM boot). Measured p50: %s end to end, %s in the daemon: %s.\n\n", ms(l.p50), ms(a.p50), verdict(l.p50 < 20*time.Millisecond))
	return nil
}

func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "**not met**"
}

// concurrentRate launches total instances from `workers` goroutines at once and returns launches
// per second; the instances are terminated afterwards, outside the timing.
func concurrentRate(d *daemon, workers, total int) (float64, error) {
	var mu sync.Mutex
	var ids []string
	elapsed, err := parallel(workers, func(int) error {
		for range total / workers {
			id, _, err := d.launchCLI()
			if err != nil {
				return err
			}
			mu.Lock()
			ids = append(ids, id)
			mu.Unlock()
		}
		return nil
	})
	if len(ids) > 0 {
		if _, terr := d.cli(append([]string{"instance", "terminate"}, ids...)...); err == nil {
			err = terr
		}
	}
	if err != nil {
		return 0, err
	}
	return float64(len(ids)) / elapsed.Seconds(), nil
}

func baselineRate(workers, total int) (float64, error) {
	elapsed, err := parallel(workers, func(int) error {
		for range total / workers {
			if err := unshareBaseline().Run(); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	return float64(total/workers*workers) / elapsed.Seconds(), nil
}

// unshareBaseline is the launch baseline: the same namespaces, no cgroup, root or daemon.
func unshareBaseline() *exec.Cmd {
	return exec.Command("unshare", "--user", "--pid", "--mount", "--uts", "--ipc", "--net", "--fork", "true")
}

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
