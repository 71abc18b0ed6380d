// Package hostdtest runs real hostd daemons for tests: it builds the binary once, starts a daemon
// with its own state dir, socket and fabric, runs CLI commands against it, and at the end tears
// everything down and fails the test if anything of it is left on the host.
package hostdtest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// RequireRoot stops a test that cannot run without root. Under CI=true it fails: CI must never
// pass by skipping the tests that matter.
func RequireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() == 0 {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("this test needs root (real namespaces, cgroups and mounts); CI runs as root")
	}
	t.Skip("needs root: run the tests as root (sudo make test)")
}

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// BinaryEnv names a prebuilt hostd for Binary to use instead of building one: where the tests
// run without a Go toolchain (the kernel matrix's VMs, scripts/kernels). Its directory must be
// traversable by every uid.
const BinaryEnv = "HOSTD_TEST_BINARY"

// Binary builds hostd once per test process, as `make build` does (static, with the init's C),
// into a directory every uid can traverse: guests run it as `hostd probe`.
func Binary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		if prebuilt := os.Getenv(BinaryEnv); prebuilt != "" {
			binPath = prebuilt
			_, buildErr = os.Stat(prebuilt)
			return
		}
		removeEndedBinaries()
		dir, err := os.MkdirTemp("", fmt.Sprintf("hostd-bin-%d-", os.Getpid()))
		if err == nil {
			err = os.Chmod(dir, 0o755)
		}
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "hostd")
		_, file, _, _ := runtime.Caller(0)
		root := filepath.Join(filepath.Dir(file), "..", "..")
		cmd := exec.Command("make", "--no-print-directory", "-C", root, "build", "BIN="+binPath)
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("make build: %v\n%s", err, out)
		}
	})
	require.NoError(t, buildErr)
	return binPath
}

// removeEndedBinaries removes the binaries Binary built for test processes that have ended: a
// process cannot remove its own while its daemons and guests run it. (`make test` builds none:
// it passes its own in HOSTD_TEST_BINARY.)
func removeEndedBinaries() {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), "hostd-bin-*"))
	for _, d := range dirs {
		pid, err := strconv.Atoi(strings.SplitN(strings.TrimPrefix(filepath.Base(d), "hostd-bin-"), "-", 2)[0])
		if err == nil && syscall.Kill(pid, 0) == syscall.ESRCH {
			os.RemoveAll(d)
		}
	}
}

// TimeScaleEnv stretches the waits of tests that must give a guest time to act (a listener's
// timeout, say) by a whole factor, for machines far slower than a developer's: the kernel
// matrix's emulated VMs set it.
const TimeScaleEnv = "HOSTD_TEST_TIME_SCALE"

// Scaled is d stretched by HOSTD_TEST_TIME_SCALE (1 when unset).
func Scaled(d time.Duration) time.Duration {
	if n, err := strconv.Atoi(os.Getenv(TimeScaleEnv)); err == nil && n > 1 {
		return d * time.Duration(n)
	}
	return d
}

// Daemon is a hostd daemon of one test.
type Daemon struct {
	t        testing.TB
	Bin      string
	Dir      string // holds the state dir and the socket dir
	StateDir string
	Socket   string
	Fabric   string
	cmd      *exec.Cmd
	log      *bytes.Buffer
	exited   chan struct{}

	mu    sync.Mutex
	seen  map[string]bool // instance ids this test saw, for the leak check
	serve []string
}

var fabricSeq int

// Start runs a daemon for t and registers its teardown and leak check. serveArgs are added to
// `hostd serve` (pool flags, say).
func Start(t testing.TB, serveArgs ...string) *Daemon {
	t.Helper()
	d := Prepare(t)
	d.serve = withTestDefaults(serveArgs)
	d.Restart()
	return d
}

// withTestDefaults is serveArgs with what every test's daemon has unless told otherwise: its
// guests never reach the host's resolvers (a test that wants an upstream names one).
func withTestDefaults(serveArgs []string) []string {
	if !slices.Contains(serveArgs, "--dns-upstream") {
		serveArgs = append(serveArgs, "--dns-upstream", "none")
	}
	return serveArgs
}

// RestartWith stops the daemon (its instances go on) and starts it again with serveArgs in place
// of the flags it had.
func (d *Daemon) RestartWith(serveArgs ...string) {
	d.t.Helper()
	d.Stop()
	d.serve = withTestDefaults(serveArgs)
	d.Restart()
}

// Prepare makes a daemon's directories, names and teardown and leak check without starting
// it: for a test that runs the daemon in its own process (the cleanup it registers afterwards
// must stop that daemon; it runs first).
func Prepare(t testing.TB) *Daemon {
	t.Helper()
	RequireRoot(t)
	// Not under /tmp: instances get a private /tmp, and the test must show that the daemon's own
	// paths are hidden from them, not merely absent. The directory is traversable so that the
	// hiding, not file permissions, is what keeps guests out.
	dir, err := os.MkdirTemp("/var/tmp", "hostd-test-")
	require.NoError(t, err)
	require.NoError(t, os.Chmod(dir, 0o755))
	fabricSeq++
	d := &Daemon{
		t:        t,
		Bin:      Binary(t),
		Dir:      dir,
		StateDir: filepath.Join(dir, "state"),
		Socket:   filepath.Join(dir, "run", "hostd.sock"),
		Fabric:   fmt.Sprintf("t%d-%d", os.Getpid(), fabricSeq),
		seen:     map[string]bool{},
	}
	t.Cleanup(func() {
		d.Stop()
		// A daemon built with -race (HOSTD_TEST_BINARY) reports races on its stderr.
		if strings.Contains(d.Log(), "WARNING: DATA RACE") {
			t.Errorf("the daemon reported a data race:\n%s", d.Log())
		}
		d.Teardown()
		d.CheckNoLeaks()
		os.RemoveAll(dir)
	})
	return d
}

// Restart starts the daemon process (again).
func (d *Daemon) Restart() {
	d.t.Helper()
	d.log = &bytes.Buffer{}
	d.cmd = exec.Command(d.Bin, append([]string{"serve", "--state-dir", d.StateDir, "--socket", d.Socket, "--fabric", d.Fabric}, d.serve...)...)
	d.cmd.Stdout, d.cmd.Stderr = d.log, d.log
	require.NoError(d.t, d.cmd.Start())
	d.exited = make(chan struct{})
	go func(cmd *exec.Cmd, exited chan struct{}) {
		_ = cmd.Wait()
		close(exited)
	}(d.cmd, d.exited)
	// A bound on a failure, not an expectation: under emulation (scripts/kernels) a start that
	// takes 100 ms here takes seconds.
	deadline := time.Now().Add(60 * time.Second)
	for {
		if _, _, code := d.Run("instance", "describe"); code == 0 {
			return
		}
		select {
		case <-d.exited:
			d.t.Fatalf("hostd serve exited at start:\n%s", d.log)
		default:
		}
		require.True(d.t, time.Now().Before(deadline), "daemon did not answer within 60s:\n%s", d.log)
		time.Sleep(20 * time.Millisecond)
	}
}

// Kill ends the daemon with SIGKILL, as a crash would.
func (d *Daemon) Kill() { d.signal(syscall.SIGKILL) }

// Stop ends the daemon with SIGTERM, which leaves instances running.
func (d *Daemon) Stop() { d.signal(syscall.SIGTERM) }

func (d *Daemon) signal(sig syscall.Signal) {
	if d.cmd == nil {
		return
	}
	_ = d.cmd.Process.Signal(sig)
	select {
	case <-d.exited:
	case <-time.After(15 * time.Second):
		d.t.Errorf("daemon did not exit on %v", sig)
		_ = d.cmd.Process.Kill()
		<-d.exited
	}
	d.cmd = nil
}

// Pid is the daemon process's pid, while it runs.
func (d *Daemon) Pid() int { return d.cmd.Process.Pid }

// Log is what the daemon has written so far.
func (d *Daemon) Log() string { return d.log.String() }

// Teardown removes everything the daemon made. The daemon must be stopped.
func (d *Daemon) Teardown() {
	cmd := exec.Command(d.Bin, "teardown", "--state-dir", d.StateDir, "--socket", d.Socket, "--fabric", d.Fabric)
	if out, err := cmd.CombinedOutput(); err != nil {
		d.t.Errorf("teardown: %v\n%s", err, out)
	}
}

// Run runs the CLI against this daemon and returns stdout, stderr and the exit status.
func (d *Daemon) Run(args ...string) (stdout, stderr string, code int) {
	return d.RunStdin("", args...)
}

// RunStdin is Run with stdin.
func (d *Daemon) RunStdin(stdin string, args ...string) (stdout, stderr string, code int) {
	return d.runCLI(stdin, []string{"--socket", d.Socket}, []string{"HOSTD_STATE_DIR=" + d.StateDir}, args)
}

// runCLI runs the hostd CLI with the global flags and environment given.
func (d *Daemon) runCLI(stdin string, globals, env, args []string) (stdout, stderr string, code int) {
	var out, errb bytes.Buffer
	cmd := exec.Command(d.Bin, append(globals, args...)...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdin = strings.NewReader(stdin)
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code = cmd.ProcessState.ExitCode()
	if err != nil && code < 0 {
		d.t.Fatalf("running hostd %v: %v", args, err)
	}
	d.noteInstances(out.String())
	return out.String(), errb.String(), code
}

// Endpoint is the URL of the daemon's network listener (started with serve --listen), as its
// log announces it.
func (d *Daemon) Endpoint() string {
	d.t.Helper()
	m := regexp.MustCompile(`network listener serving signed calls" listen=(\S+) tls=(\w+)`).FindStringSubmatch(d.Log())
	require.NotNil(d.t, m, "the daemon announced no network listener (serve --listen):\n%s", d.Log())
	if m[2] == "true" {
		return "https://" + m[1]
	}
	return "http://" + m[1]
}

// RunSigned runs the CLI against the network listener, signing with an access key.
func (d *Daemon) RunSigned(keyID, secret string, args ...string) (stdout, stderr string, code int) {
	return d.runCLI("", []string{"--endpoint", d.Endpoint()},
		[]string{"AWS_ACCESS_KEY_ID=" + keyID, "AWS_SECRET_ACCESS_KEY=" + secret, "AWS_PROFILE=", "AWS_REGION="}, args)
}

// JSON runs a command that must succeed and decodes its output into v.
func (d *Daemon) JSON(v any, args ...string) {
	d.t.Helper()
	out, errOut, code := d.Run(args...)
	require.Equal(d.t, 0, code, "hostd %v failed: %s", args, errOut)
	require.NoError(d.t, json.Unmarshal([]byte(out), v), "hostd %v printed: %s", args, out)
}

// Launch runs `instance run` with args and returns the new instance's id.
func (d *Daemon) Launch(args ...string) string {
	d.t.Helper()
	var out struct{ InstanceId, State string }
	d.JSON(&out, append([]string{"instance", "run"}, args...)...)
	require.Equal(d.t, "running", out.State)
	return out.InstanceId
}

// Exec runs a command in an instance and returns its stdout, stderr and exit status.
func (d *Daemon) Exec(id string, cmd ...string) (stdout, stderr string, code int) {
	return d.Run(append([]string{"instance", "exec", id, "--"}, cmd...)...)
}

// MustExec runs a command in an instance that must succeed, and returns its trimmed stdout.
func (d *Daemon) MustExec(id string, cmd ...string) string {
	d.t.Helper()
	out, errOut, code := d.Exec(id, cmd...)
	require.Equal(d.t, 0, code, "%v in %s failed: %s", cmd, id, errOut)
	return strings.TrimSpace(out)
}

// ErrorOf decodes the EC2 error document a failed command printed on stderr.
func ErrorOf(t testing.TB, stderr string) (code, message string) {
	t.Helper()
	var doc struct {
		Error struct{ Code, Message string }
	}
	require.NoError(t, json.Unmarshal([]byte(stderr), &doc), "stderr is not an error document: %q", stderr)
	return doc.Error.Code, doc.Error.Message
}

// RequireTool stops a test that needs a program the machine lacks, naming the Debian package
// that has it. Under CI=true it fails: .ci/run installs every such package.
func RequireTool(t testing.TB, path, pkg string) {
	t.Helper()
	if _, err := os.Stat(path); err == nil {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s is missing: .ci/run installs %s", path, pkg)
	}
	t.Skipf("%s is missing: apt-get install %s", path, pkg)
}

// WaitExec runs cmd in an instance until it succeeds, for what a workload does after it starts.
func WaitExec(t testing.TB, d *Daemon, id string, cmd ...string) {
	t.Helper()
	deadline := time.Now().Add(Scaled(20 * time.Second))
	for {
		if _, _, code := d.Exec(id, cmd...); code == 0 {
			return
		}
		require.True(t, time.Now().Before(deadline), "%v never succeeded in %s", cmd, id)
		time.Sleep(50 * time.Millisecond)
	}
}
