package guest

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/hostd/hostd/hostd/cgroup"
	"github.com/hostd/hostd/hostd/guest/initc"
	"github.com/hostd/hostd/hostd/guest/seccomp"
)

// Launcher starts instances. RunDir holds one private directory per instance with its control
// socket and console log; it must be on the host and invisible to guests.
type Launcher struct {
	// InitPath is the hostd binary the init runs from: the daemon's own, by its host path. (Not
	// /proc/self/exe: the init's own exe must be opened in its mount namespace, for the guest's
	// root to bind it.)
	InitPath string
	RunDir   string
	// Private are host directories whose mounts guests must not see (the daemon's state dir).
	Private []string
	// Socket is the API socket, covered in guests that could see its path.
	Socket string
	// FilesDir is where the instances' own files (Spec.Files) are written: a tmpfs of the
	// daemon's (MountFilesDir), so that a guest's mount table names a file by its path in that
	// tmpfs and never shows where the daemon keeps its state.
	FilesDir string

	filterOnce sync.Once
	filter     []byte
	filterErr  error
}

// Spec is one instance to launch.
type Spec struct {
	ID    string
	Args  []string
	IDs   IDRange
	Group cgroup.Group
	// NoSeccomp launches without the seccomp filter, for negative-control tests only: the daemon
	// never sets it.
	NoSeccomp bool
	// BeforeStart, if set, runs once the guest's network namespace exists and before the
	// workload starts (the network is plumbed here), with the host pid of the workload-to-be,
	// which is in that namespace.
	BeforeStart func(pid int) error
	// RAMPath, if set, is the host path of the instance's RAM region (a file on a tmpfs that the
	// guest's root may read and write), shown in the guest at GuestRAMPath.
	RAMPath string
	// Devices are block devices (its volumes) to show in the guest. The cgroup must admit them.
	Devices []DeviceNode
	// Files are the guest's own files (its /etc/resolv.conf and /etc/hosts), by guest path: the
	// launcher writes them in FilesDir and the plan binds them read-only over the host's, so
	// that no path inside the guest's tree is ever opened to write them.
	Files map[string][]byte
}

// DeviceNode is a host device node shown in a guest at another path.
type DeviceNode struct {
	HostPath  string
	GuestPath string
}

// Process is a running instance's init, launched by this daemon or adopted after a restart, and
// the daemon's watch connection to it.
type Process struct {
	Pid       int
	StartTime uint64
	exited    chan struct{}
	watch     *net.UnixConn
	console   *os.File
}

// Exited is closed once the init has exited (and, if this daemon launched it, been reaped).
func (p *Process) Exited() <-chan struct{} { return p.exited }

// Kill sends SIGKILL to the init; the kernel then kills everything in its PID namespace.
func (p *Process) Kill() { _ = syscall.Kill(p.Pid, syscall.SIGKILL) }

// Console is the read end of the workload's output pipe, for the daemon to copy into the
// console log. The init keeps a copy, so that the pipe outlives a daemon restart.
func (p *Process) Console() *os.File { return p.console }

// WaitStatus waits for the workload's exit code, which the init sends once the workload has
// ended and everything else in the instance is gone. An error means the watch connection ended
// first: the init was killed, or this daemon is closing.
func (p *Process) WaitStatus() (int, error) {
	for {
		m, err := initc.Receive(p.watch)
		if err != nil {
			return 0, err
		}
		m.Close()
		if m.Type == initc.MsgStatus {
			code, err := initc.ParseInt32(m.Payload)
			return int(code), err
		}
	}
}

// Ack tells the init that its status is recorded; it exits then.
func (p *Process) Ack() error { return initc.Send(p.watch, initc.MsgAck, nil) }

// Close drops this daemon's connections to the init, which keeps running.
func (p *Process) Close() {
	p.watch.Close()
	p.console.Close()
}

// filesOf is where spec.Files of instance id are written.
func (l *Launcher) filesOf(id string) string { return filepath.Join(l.FilesDir, id) }

// RemoveFiles removes instance id's own files.
func (l *Launcher) RemoveFiles(id string) error { return os.RemoveAll(l.filesOf(id)) }

// InstancesWithFiles lists the instances that have files in FilesDir.
func (l *Launcher) InstancesWithFiles() []string {
	entries, _ := os.ReadDir(l.FilesDir)
	ids := make([]string, len(entries))
	for i, e := range entries {
		ids[i] = e.Name()
	}
	return ids
}

// InstanceDir is where an instance's private files live.
func (l *Launcher) InstanceDir(id string) string { return filepath.Join(l.RunDir, id) }

// MaxRunDir is the longest RunDir whose instances' control sockets still fit a unix socket
// address (108 bytes with its terminating NUL).
const MaxRunDir = 107 - len("/i-0123456789abcdef0/control.sock")

// ControlSocket is the path of the socket an instance's init serves on: exec for clients, the
// watch and devices for the daemon. Only host root can reach it (the state dir is 0700).
func (l *Launcher) ControlSocket(id string) string {
	return filepath.Join(l.InstanceDir(id), "control.sock")
}

// ConsoleLog is where the daemon keeps the workload's output.
func (l *Launcher) ConsoleLog(id string) string {
	return filepath.Join(l.InstanceDir(id), "console.log")
}

// consolePipeSize is the workload's output pipe: while no daemon reads it, output beyond this
// blocks the writer.
const consolePipeSize = 1 << 20

// Launch starts spec's init in spec.Group and returns once the workload runs. On failure nothing
// of the instance is left running; the caller removes the group and the instance dir.
func (l *Launcher) Launch(spec Spec) (*Process, error) {
	dir := l.InstanceDir(spec.ID)
	newRoot := filepath.Join(dir, "root") // an empty mount point, in the init's namespace only
	if err := os.MkdirAll(newRoot, 0o700); err != nil {
		return nil, err
	}
	if err := writeGuestFiles(l.filesOf(spec.ID), spec.Files); err != nil {
		return nil, err
	}
	cfg, err := l.config(spec, newRoot)
	if err != nil {
		return nil, err
	}
	payload, err := cfg.Encode()
	if err != nil {
		return nil, &LaunchError{Reason: err.Error()}
	}
	f, err := l.initFiles(spec.ID)
	if err != nil {
		return nil, err
	}
	defer f.closeChildEnds()
	cmd := &exec.Cmd{
		Path: l.InitPath,
		Args: []string{"hostd", InitArg, spec.ID},
		Env:  []string{},
		// Order fixed by initc's FD_ constants.
		ExtraFiles: []*os.File{f.syncChild, f.control, f.consoleR, f.consoleW},
		SysProcAttr: &syscall.SysProcAttr{
			// Both owned by the host's user namespace: the guest can change neither its mounts nor
			// its PID 1. The workload makes the namespaces the guest owns.
			Cloneflags: syscall.CLONE_NEWNS | syscall.CLONE_NEWPID,
			// Its own session: a signal to the daemon's terminal must not reach instances.
			Setsid: true,
		},
	}
	// On the unified hierarchy the init is born in its cgroup; on v1 it moves itself there
	// (Config.Cgroups) before it does anything else.
	cgroupDir, err := spec.Group.CloneInto()
	if err != nil {
		f.closeAll()
		return nil, err
	}
	if cgroupDir != nil {
		defer cgroupDir.Close()
		cmd.SysProcAttr.UseCgroupFD, cmd.SysProcAttr.CgroupFD = true, int(cgroupDir.Fd())
	}
	if err := cmd.Start(); err != nil {
		f.closeAll()
		return nil, fmt.Errorf("starting the instance's init: %w", err)
	}
	f.closeChildEnds()
	proc := &Process{Pid: cmd.Process.Pid, exited: make(chan struct{}), watch: f.sync, console: f.consoleR}
	go func() {
		_ = cmd.Wait()
		close(proc.exited)
	}()
	fail := func(err error) (*Process, error) {
		proc.Kill()
		<-proc.exited
		proc.Close()
		return nil, err
	}
	if proc.StartTime, err = StartTime(proc.Pid); err != nil {
		return fail(err)
	}
	if err := initc.Send(f.sync, initc.MsgConfig, payload); err != nil {
		return fail(fmt.Errorf("sending the init its config: %w", err))
	}
	if err := l.handshake(f.sync, spec); err != nil {
		return fail(err)
	}
	return proc, nil
}

// handshake follows the init through the launch: plumbing when it asks, until the workload runs.
func (l *Launcher) handshake(sync *net.UnixConn, spec Spec) error {
	_ = sync.SetReadDeadline(time.Now().Add(30 * time.Second))
	defer sync.SetReadDeadline(time.Time{})
	for {
		m, err := initc.Receive(sync)
		if errors.Is(err, io.EOF) {
			return errors.New("the instance's init exited during the launch")
		}
		if err != nil {
			return fmt.Errorf("the instance's init did not report: %w", err)
		}
		m.Close()
		switch m.Type {
		case initc.MsgError:
			return &LaunchError{Reason: strings.TrimSpace(string(m.Payload))}
		case initc.MsgRunning:
			return nil
		case initc.MsgNetns:
			pid, err := initc.ParseUint32(m.Payload)
			if err != nil {
				return err
			}
			if spec.BeforeStart != nil {
				if err := spec.BeforeStart(int(pid)); err != nil {
					return err
				}
			}
			if err := initc.Send(sync, initc.MsgGo, nil); err != nil {
				return err
			}
		default:
			return fmt.Errorf("the instance's init sent message %d during the launch", m.Type)
		}
	}
}

// config is what the init is told: the command, the guest's identity and limits, and its root.
func (l *Launcher) config(spec Spec, newRoot string) (*initc.Config, error) {
	mounts, err := hostMounts()
	if err != nil {
		return nil, err
	}
	idMap := fmt.Sprintf("0 %d %d\n", spec.IDs.HostID, spec.IDs.Size)
	cfg := &initc.Config{
		Hostname: spec.ID, Args: spec.Args, Env: GuestEnv(spec.ID),
		UIDMap: idMap, GIDMap: idMap, Caps: capabilityMask(),
		WaitGo:  spec.BeforeStart != nil,
		Plan:    rootPlan(spec, newRoot, l.filesOf(spec.ID), keptMounts(mounts, l.Private), l.Socket),
		Cgroups: spec.Group.TaskFiles(),
	}
	for _, d := range spec.Devices {
		cfg.Devices = append(cfg.Devices, strings.TrimPrefix(d.GuestPath, "/dev/"))
	}
	if !spec.NoSeccomp {
		l.filterOnce.Do(func() { l.filter, l.filterErr = seccomp.Filter() })
		if l.filterErr != nil {
			return nil, fmt.Errorf("assembling the seccomp filter: %w", l.filterErr)
		}
		cfg.Seccomp = l.filter
	}
	return cfg, nil
}

// initFiles are what the init inherits (initc's FD_ order) and the daemon's ends of them.
type initFiles struct {
	sync                         *net.UnixConn // the daemon's end of the socketpair
	syncChild, control, consoleW *os.File      // the init's alone: closed here once it has them
	consoleR                     *os.File      // both have it
}

func (f *initFiles) closeChildEnds() {
	for _, c := range []**os.File{&f.syncChild, &f.control, &f.consoleW} {
		if *c != nil {
			(*c).Close()
			*c = nil
		}
	}
}

func (f *initFiles) closeAll() {
	f.closeChildEnds()
	if f.sync != nil {
		f.sync.Close()
	}
	if f.consoleR != nil {
		f.consoleR.Close()
	}
}

func (l *Launcher) initFiles(id string) (f *initFiles, err error) {
	f = &initFiles{}
	defer func() {
		if err != nil {
			f.closeAll()
		}
	}()
	pair, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return f, err
	}
	// A config may be larger than the default socket buffer, and one message must fit.
	_ = unix.SetsockoptInt(pair[0], unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, 1<<20)
	f.syncChild = os.NewFile(uintptr(pair[1]), "sync-child")
	parent := os.NewFile(uintptr(pair[0]), "sync")
	conn, err := net.FileConn(parent)
	parent.Close()
	if err != nil {
		return f, err
	}
	f.sync = conn.(*net.UnixConn)

	path := l.ControlSocket(id)
	_ = os.Remove(path)
	ln, err := net.ListenUnix("unixpacket", &net.UnixAddr{Name: path, Net: "unixpacket"})
	if err != nil {
		return f, fmt.Errorf("creating the control socket: %w", err)
	}
	// The init keeps listening after this daemon closes its copy, and after it dies.
	ln.SetUnlinkOnClose(false)
	f.control, err = ln.File()
	ln.Close()
	if err != nil {
		return f, err
	}

	if f.consoleR, f.consoleW, err = os.Pipe(); err != nil {
		return f, err
	}
	if _, err := unix.FcntlInt(f.consoleR.Fd(), unix.F_SETPIPE_SZ, consolePipeSize); err != nil {
		return f, fmt.Errorf("sizing the console pipe: %w", err)
	}
	return f, nil
}

// Adopt finds the init of an instance launched by an earlier daemon and becomes its watcher. It
// fails if pid no longer runs or now belongs to another process.
func (l *Launcher) Adopt(id string, pid int, startTime uint64) (*Process, error) {
	st, err := StartTime(pid)
	if err != nil || st != startTime {
		return nil, errors.New("the instance's init is gone")
	}
	fd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		return nil, fmt.Errorf("pidfd_open %d: %w", pid, err)
	}
	conn, err := l.dial(id)
	if err == nil {
		err = initc.Send(conn, initc.MsgWatch, nil)
	}
	var m initc.Message
	if err == nil {
		_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		m, err = initc.Receive(conn)
		_ = conn.SetReadDeadline(time.Time{})
	}
	if err == nil && (m.Type != initc.MsgConsole || len(m.Files) != 1) {
		m.Close()
		err = fmt.Errorf("the instance's init answered a watch with message %d", m.Type)
	}
	if err != nil {
		unix.Close(fd)
		if conn != nil {
			conn.Close()
		}
		return nil, fmt.Errorf("watching the instance's init: %w", err)
	}
	proc := &Process{Pid: pid, StartTime: startTime, exited: make(chan struct{}), watch: conn, console: m.Files[0]}
	go func() {
		defer unix.Close(fd)
		// A pidfd becomes readable when the process exits; its parent (not us) reaps it.
		fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		for {
			if _, err := unix.Poll(fds, -1); err != unix.EINTR {
				break
			}
		}
		close(proc.exited)
	}()
	return proc, nil
}

func (l *Launcher) dial(id string) (*net.UnixConn, error) {
	return net.DialUnix("unixpacket", nil, &net.UnixAddr{Name: l.ControlSocket(id), Net: "unixpacket"})
}

// StartTime reads a process's start time (in clock ticks since boot) from /proc, which together
// with its pid names it uniquely.
func StartTime(pid int) (uint64, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name (field 2) may hold spaces and parentheses: count fields after the last ')'.
	s := string(data)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	const startTimeField = 22 - 3 // fields[0] is field 3, the state
	if len(fields) <= startTimeField {
		return 0, fmt.Errorf("/proc/%d/stat is too short", pid)
	}
	return strconv.ParseUint(fields[startTimeField], 10, 64)
}
