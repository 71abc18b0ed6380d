package guest

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/hostd/hostd/hostd/cgroup"
)

// Launcher starts instances. RunDir holds one private directory per instance with its control
// socket and status file; it must be on the host and invisible to guests.
type Launcher struct {
	// InitPath is the hostd binary the init runs from. It must be executable by the unprivileged
	// host uid that guest root maps to, and visible at the same path inside the guest.
	InitPath  string
	RunDir    string
	HidePaths []string
}

// Spec is one instance to launch.
type Spec struct {
	ID    string
	Args  []string
	IDs   IDRange
	Group cgroup.Group
	// AllowMountSyscalls turns off a protection, for the negative-control test only: the daemon
	// never sets it.
	AllowMountSyscalls bool
	// BeforeStart, if set, runs once the init sits in its cgroup and namespaces and before the
	// workload starts (the network is plumbed here), with the init's host pid.
	BeforeStart func(pid int) error
	// RAMPath, if set, is the host path of the instance's RAM region (a file on a tmpfs that the
	// guest's root may read and write), shown in the guest at GuestRAMPath.
	RAMPath string
	// Devices are block devices (its volumes) to show in the guest. The cgroup must admit them.
	Devices []DeviceNode
}

// DeviceNode is a host device node shown in a guest at another path.
type DeviceNode struct {
	HostPath  string
	GuestPath string
}

// Process is a running instance's init, launched by this daemon or adopted after a restart.
type Process struct {
	Pid       int
	StartTime uint64
	exited    chan struct{}
}

// Exited is closed once the init has exited (and, if this daemon launched it, been reaped).
func (p *Process) Exited() <-chan struct{} { return p.exited }

// ExitStatus reads how an instance's workload ended. It returns nil if the init did not record
// it, as when the instance was killed.
func (l *Launcher) ExitStatus(id string) *ExitStatus {
	data, err := os.ReadFile(l.statusPath(id))
	if err != nil || len(data) == 0 {
		return nil
	}
	var st ExitStatus
	if json.Unmarshal(data, &st) != nil {
		return nil
	}
	return &st
}

// Kill sends SIGKILL to the init; the kernel then kills everything in its PID namespace.
func (p *Process) Kill() { _ = syscall.Kill(p.Pid, syscall.SIGKILL) }

// InstanceDir is where an instance's private files live.
func (l *Launcher) InstanceDir(id string) string { return filepath.Join(l.RunDir, id) }

// MaxRunDir is the longest RunDir whose instances' control sockets still fit a unix socket
// address (108 bytes with its terminating NUL).
const MaxRunDir = 107 - len("/i-0123456789abcdef0/control.sock")

// ControlSocket is the path of the socket an instance's init serves exec requests on.
func (l *Launcher) ControlSocket(id string) string {
	return filepath.Join(l.InstanceDir(id), "control.sock")
}

func (l *Launcher) statusPath(id string) string {
	return filepath.Join(l.InstanceDir(id), "exit.json")
}

// Launch starts spec's init, places it in spec.Group, and returns once the workload runs.
// On failure nothing of the instance is left running; the caller removes the group and dir.
func (l *Launcher) Launch(spec Spec) (*Process, error) {
	dir := l.InstanceDir(spec.ID)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	files, err := l.initFiles(spec.ID)
	if err != nil {
		return nil, err
	}
	defer func() {
		for _, f := range files {
			f.Close()
		}
	}()
	syncParent, syncChild := files[0], files[1]

	cmd := &exec.Cmd{
		Path:       l.InitPath,
		Args:       []string{"hostd", InitArg, spec.ID},
		Env:        GuestEnv(spec.ID),
		Stdout:     files[4], // console log
		Stderr:     files[4],
		ExtraFiles: []*os.File{syncChild, files[2], files[3]},
		SysProcAttr: &syscall.SysProcAttr{
			// The cgroup namespace is made by the init itself, once it sits in its cgroup, so that
			// its root is the instance's own group.
			Cloneflags: syscall.CLONE_NEWUSER | syscall.CLONE_NEWPID | syscall.CLONE_NEWNS |
				syscall.CLONE_NEWUTS | syscall.CLONE_NEWIPC | syscall.CLONE_NEWNET,
			UidMappings:                []syscall.SysProcIDMap{{ContainerID: 0, HostID: int(spec.IDs.HostID), Size: int(spec.IDs.Size)}},
			GidMappings:                []syscall.SysProcIDMap{{ContainerID: 0, HostID: int(spec.IDs.HostID), Size: int(spec.IDs.Size)}},
			GidMappingsEnableSetgroups: false,
			// Creating a user namespace does not change who we are: without this the init would stay
			// host root, which is unmapped (nobody) inside and holds no capability there.
			Credential: &syscall.Credential{Uid: 0, Gid: 0, NoSetGroups: true},
			// Its own session: a signal to the daemon's terminal must not reach instances.
			Setsid: true,
		},
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting the instance's init: %w", err)
	}
	proc := &Process{Pid: cmd.Process.Pid, exited: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		close(proc.exited)
	}()
	fail := func(err error) (*Process, error) {
		proc.Kill()
		<-proc.exited
		return nil, err
	}

	if err := spec.Group.Add(proc.Pid); err != nil {
		return fail(fmt.Errorf("placing the init in its cgroup: %w", err))
	}
	if proc.StartTime, err = StartTime(proc.Pid); err != nil {
		return fail(err)
	}
	if spec.BeforeStart != nil {
		if err := spec.BeforeStart(proc.Pid); err != nil {
			return fail(err)
		}
	}
	cfg := initConfig{
		ID:         spec.ID,
		Binary:     l.InitPath,
		Args:       spec.Args,
		Env:        GuestEnv(spec.ID),
		HidePaths:  l.HidePaths,
		CgroupDirs: spec.Group.Dirs(),

		AllowMountSyscalls: spec.AllowMountSyscalls,
		GuestRAM:           spec.RAMPath != "",
	}
	var paths []string
	if spec.RAMPath != "" {
		paths = append(paths, spec.RAMPath)
	}
	for _, dev := range spec.Devices {
		cfg.Devices = append(cfg.Devices, dev.GuestPath)
		paths = append(paths, dev.HostPath)
	}
	if err := sendConfig(syncParent, proc.Pid, cfg, paths); err != nil {
		return fail(fmt.Errorf("sending the init its config: %w", err))
	}
	report, err := readReport(syncParent)
	if err != nil {
		return fail(err)
	}
	if report.Error != "" {
		return fail(&LaunchError{Reason: report.Error})
	}
	return proc, nil
}

// sendConfig sends the init its config in one message, with the files at paths (the RAM region,
// the volumes' devices) attached. They are opened through the init's own root (/proc/PID/root,
// before it pivots) so that the fds belong to the init's mount namespace: the kernel binds only
// what is mounted in the binder's own. O_PATH: the init only binds them, it never reads them.
func sendConfig(sync *os.File, pid int, cfg initConfig, paths []string) error {
	data, err := json.Marshal(cfg)
	if err != nil {
		return err
	}
	var fds []int
	for _, p := range paths {
		fd, err := unix.Open(fmt.Sprintf("/proc/%d/root%s", pid, p), unix.O_PATH|unix.O_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("opening %s in the instance's mount namespace: %w", p, err)
		}
		defer unix.Close(fd)
		fds = append(fds, fd)
	}
	var rights []byte
	if len(fds) > 0 {
		rights = unix.UnixRights(fds...)
	}
	return unix.Sendmsg(int(sync.Fd()), data, rights, nil, 0)
}

// LaunchError is a failure inside the guest, such as a command that does not exist there.
type LaunchError struct{ Reason string }

func (e *LaunchError) Error() string { return e.Reason }

// readReport waits for the init's report; a dead or hung init gives an error, not a hang.
func readReport(f *os.File) (initReport, error) {
	var r initReport
	_ = f.SetReadDeadline(time.Now().Add(30 * time.Second))
	if err := json.NewDecoder(f).Decode(&r); err != nil {
		return r, fmt.Errorf("the instance's init did not report (see its console log): %w", err)
	}
	return r, nil
}

// initFiles makes what the init inherits: both ends of the sync socketpair, the control socket,
// the status file and the console log, in that order.
func (l *Launcher) initFiles(id string) (files []*os.File, err error) {
	defer func() {
		if err != nil {
			for _, f := range files {
				f.Close()
			}
		}
	}()
	pair, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	files = append(files, os.NewFile(uintptr(pair[0]), "sync-parent"), os.NewFile(uintptr(pair[1]), "sync-child"))

	path := l.ControlSocket(id)
	_ = os.Remove(path)
	ln, err := net.ListenUnix("unixpacket", &net.UnixAddr{Name: path, Net: "unixpacket"})
	if err != nil {
		return files, fmt.Errorf("creating the control socket: %w", err)
	}
	// The init keeps listening after this daemon closes its copy, and after it dies.
	ln.SetUnlinkOnClose(false)
	ctl, err := ln.File()
	ln.Close()
	if err != nil {
		return files, err
	}
	files = append(files, ctl)

	status, err := os.OpenFile(l.statusPath(id), os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return files, err
	}
	files = append(files, status)

	console, err := os.OpenFile(filepath.Join(l.InstanceDir(id), "console.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return files, err
	}
	return append(files, console), nil
}

// Adopt finds the init of an instance launched by an earlier daemon. It fails if pid no longer
// runs or now belongs to another process.
func (l *Launcher) Adopt(pid int, startTime uint64) (*Process, error) {
	st, err := StartTime(pid)
	if err != nil || st != startTime {
		return nil, errors.New("the instance's init is gone")
	}
	fd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		return nil, fmt.Errorf("pidfd_open %d: %w", pid, err)
	}
	proc := &Process{Pid: pid, StartTime: startTime, exited: make(chan struct{})}
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
