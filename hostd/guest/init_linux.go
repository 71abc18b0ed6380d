package guest

import (
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"strings"
	"syscall"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

func init() {
	// The init's cgroup namespace and no_new_privs belong to one thread, and children inherit them
	// from the thread that forks them. So the init does all its work and all its forking on the
	// main thread, locked here before anything else can move the main goroutine.
	if len(os.Args) > 1 && os.Args[1] == InitArg {
		runtime.LockOSThread()
	}
}

// guestOOMScoreAdj is the OOM score adjustment of every process the init starts: the most there
// is, which adds the whole of the cgroup's limit to each guest process's score, so that while any
// guest process is left the init (about 11 MB resident, its binary mostly) is never the victim.
const guestOOMScoreAdj = "1000"

// spawnRequest asks the main thread to start a process; reply gets its pid or an error, and
// exited gets its exit code later.
type spawnRequest struct {
	args   []string
	env    []string
	files  []*os.File
	reply  chan spawnResult
	exited chan int
}

type spawnResult struct {
	pid int
	err error
}

// signalRequest asks the main thread to signal an exec'd process if it still runs.
type signalRequest struct {
	pid int
	sig syscall.Signal
}

// initProcess is the state of an instance's PID 1.
type initProcess struct {
	workload int
	children map[int]chan int // exec'd processes by pid, and who waits for them
	spawns   chan spawnRequest
	signals  chan signalRequest
	status   *os.File
}

// RunInit is the main function of an instance's init. It never returns.
func RunInit() {
	log.SetFlags(0)
	log.SetPrefix("hostd-init: ")
	// The sync socket, control socket and status file are the init's alone: nothing it starts
	// may inherit them (a guest holding the control socket could take other people's exec
	// requests, their terminals with them).
	if err := CloseOnExecFrom(fdSync); err != nil {
		log.Fatalf("marking inherited fds close-on-exec: %v", err)
	}
	syncFile := os.NewFile(fdSync, "sync")
	cfg, err := receiveConfig()
	if err != nil {
		log.Fatalf("reading config from the daemon: %v", err)
	}
	report := func(r initReport) {
		if err := json.NewEncoder(syncFile).Encode(r); err != nil {
			log.Printf("reporting to the daemon: %v", err)
		}
	}
	if err := prepareGuest(cfg); err != nil {
		report(initReport{Error: "preparing the instance: " + err.Error()})
		os.Exit(1)
	}
	in := &initProcess{
		children: map[int]chan int{},
		spawns:   make(chan spawnRequest),
		signals:  make(chan signalRequest),
		status:   os.NewFile(fdStatus, "status"),
	}
	// Subscribe before the first fork so that no child's exit goes unnoticed.
	sigchld := make(chan os.Signal, 64)
	signal.Notify(sigchld, syscall.SIGCHLD)

	devNull, err := os.Open("/dev/null")
	if err != nil {
		report(initReport{Error: err.Error()})
		os.Exit(1)
	}
	// The workload writes to a pipe, not to the console log itself: the log is a file on the
	// host's disk, and the init caps how much of it a guest can fill.
	outR, outW, err := os.Pipe()
	if err != nil {
		report(initReport{Error: err.Error()})
		os.Exit(1)
	}
	go copyCapped(os.Stdout, outR, consoleLimit)
	in.workload, err = spawn(cfg.Args, cfg.Env, []*os.File{devNull, outW, outW})
	devNull.Close()
	outW.Close()
	if err != nil {
		report(initReport{Error: err.Error()})
		os.Exit(1)
	}
	report(initReport{Pid: in.workload})
	syncFile.Close()

	ln, err := net.FileListener(os.NewFile(fdControl, "control"))
	if err != nil {
		log.Printf("control socket unusable, exec will not work: %v", err)
	} else {
		go serveExec(ln.(*net.UnixListener), in, cfg.Env)
	}
	in.loop(sigchld)
}

// receiveConfig reads the daemon's one config message and the fd that may come with it.
func receiveConfig() (*initConfig, error) {
	buf := make([]byte, 1<<20)
	oob := make([]byte, unix.CmsgSpace(4*64))
	n, oobn, _, _, err := unix.Recvmsg(fdSync, buf, oob, 0)
	if err != nil {
		return nil, err
	}
	cfg := &initConfig{}
	if err := json.Unmarshal(buf[:n], cfg); err != nil {
		return nil, err
	}
	files, err := receivedFiles(oob[:oobn])
	if err != nil {
		return nil, err
	}
	want := len(cfg.Devices)
	if cfg.GuestRAM {
		want++
	}
	if len(files) != want {
		return nil, fmt.Errorf("the config names %d files but carries %d fds", want, len(files))
	}
	if cfg.GuestRAM {
		cfg.ram, files = files[0], files[1:]
	}
	cfg.devices = files
	return cfg, nil
}

// consoleLimit is the most of a workload's output the console log holds; past it the log starts
// over, so it keeps the latest output.
const consoleLimit = 8 << 20

// copyCapped copies src to the file dst, emptying dst whenever it would pass limit bytes.
func copyCapped(dst *os.File, src io.Reader, limit int64) {
	buf := make([]byte, 64<<10)
	var written int64
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if written+int64(n) > limit {
				_ = dst.Truncate(0)
				m, _ := fmt.Fprintf(dst, "[hostd: console log passed %d bytes; earlier output dropped]\n", limit)
				written = int64(m)
			}
			m, _ := dst.Write(buf[:n])
			written += int64(m)
		}
		if err != nil {
			return
		}
	}
}

// prepareGuest turns the freshly cloned process into the instance's init: cgroup namespace,
// hostname, loopback, root filesystem, no_new_privs.
func prepareGuest(cfg *initConfig) error {
	// Made here, not at clone, so that its root is the instance's group the daemon just moved us to.
	if err := unix.Unshare(unix.CLONE_NEWCGROUP); err != nil {
		return fmt.Errorf("cgroup namespace: %w", err)
	}
	if err := unix.Sethostname([]byte(cfg.ID)); err != nil {
		return fmt.Errorf("hostname: %w", err)
	}
	// The datapath offers no IPv6 yet; a guest that tried would only fill its drop counters.
	if err := os.WriteFile("/proc/sys/net/ipv6/conf/all/disable_ipv6", []byte("1"), 0); err != nil {
		return fmt.Errorf("disabling IPv6: %w", err)
	}
	lo, err := netlink.LinkByName("lo")
	if err == nil {
		err = netlink.LinkSetUp(lo)
	}
	if err != nil {
		return fmt.Errorf("loopback: %w", err)
	}
	if err := buildRootfs(cfg); err != nil {
		return fmt.Errorf("root filesystem: %w", err)
	}
	// No exec in the guest may gain privileges (setuid binaries, file capabilities).
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("no_new_privs: %w", err)
	}
	if cfg.AllowMountSyscalls {
		return nil
	}
	if err := denyMountSyscalls(); err != nil {
		return fmt.Errorf("seccomp: %w", err)
	}
	return nil
}

// spawn starts args with files as its stdin, stdout and stderr, in a session of its own. It must
// run on the main thread.
func spawn(args, env []string, files []*os.File) (int, error) {
	path := args[0]
	if !strings.Contains(path, "/") {
		var err error
		if path, err = exec.LookPath(path); err != nil {
			return 0, fmt.Errorf("%s: command not found in the instance", args[0])
		}
	}
	// When the instance runs out of memory the OOM killer takes the biggest process, and the init
	// (a Go program) can be bigger than the guest's hog; losing it would stop the instance. Only a
	// privileged host process may lower the init's score below 0, but any process may raise its
	// own and lower it back to 0. So the init raises its own score for the fork: the child is born
	// with it, before it can fork anything of its own (raising the child's afterwards raced with
	// the child's first forks), and the init returns to 0.
	if err := setOOMScoreAdj(guestOOMScoreAdj); err != nil {
		return 0, err
	}
	defer func() { _ = setOOMScoreAdj("0") }() // back to the floor: always allowed
	p, err := os.StartProcess(path, args, &os.ProcAttr{
		Dir:   "/",
		Env:   env,
		Files: files,
		Sys:   &syscall.SysProcAttr{Setsid: true},
	})
	if err != nil {
		return 0, fmt.Errorf("starting %s: %w", args[0], err)
	}
	pid := p.Pid
	// The init reaps with wait4 itself; drop the handle (and its pidfd).
	_ = p.Release()
	return pid, nil
}

func setOOMScoreAdj(v string) error {
	return os.WriteFile("/proc/self/oom_score_adj", []byte(v), 0)
}

// loop serves spawn and signal requests and reaps children, all on the main thread. When the
// workload exits, the init records its status and exits; the kernel then kills whatever else
// runs in the instance's PID namespace.
func (in *initProcess) loop(sigchld <-chan os.Signal) {
	for {
		select {
		case req := <-in.spawns:
			pid, err := spawn(req.args, req.env, req.files)
			if err == nil {
				in.children[pid] = req.exited
			}
			req.reply <- spawnResult{pid: pid, err: err}
		case req := <-in.signals:
			if _, ok := in.children[req.pid]; ok {
				_ = syscall.Kill(req.pid, req.sig)
			}
		case <-sigchld:
			in.reap()
		}
	}
}

func (in *initProcess) reap() {
	for {
		var ws syscall.WaitStatus
		pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil)
		if err == syscall.EINTR {
			continue
		}
		if pid <= 0 {
			return
		}
		code := exitCode(ws)
		if pid == in.workload {
			_ = json.NewEncoder(in.status).Encode(ExitStatus{ExitCode: code})
			in.status.Close()
			os.Exit(0)
		}
		if ch, ok := in.children[pid]; ok {
			ch <- code
			delete(in.children, pid)
		}
	}
}

// exitCode turns a wait status into a shell-style exit code (128+signal for a killed process).
func exitCode(ws syscall.WaitStatus) int {
	if ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ws.ExitStatus()
}
