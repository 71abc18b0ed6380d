// Package guest launches instances: it starts hostd again as the instance's init (PID 1) inside
// new user, PID, mount, UTS, IPC, network and cgroup namespaces, builds the guest's root
// filesystem, runs the workload, and serves `instance exec` from inside.
//
// The daemon side (Launch, Adopt) and the guest side (RunInit) live here together because they
// are two ends of one protocol: the init reads its config from fd 3, reports on it, and then
// listens for exec requests on the control socket it inherits as fd 4.
package guest

import "os"

// initConfig is what the daemon tells an instance's init once the init sits in its cgroup.
type initConfig struct {
	ID string `json:"id"`
	// Binary is the host path of the hostd binary, shown read-only in GuestBinDir.
	Binary string   `json:"binary"`
	Args   []string `json:"args"`
	Env    []string `json:"env"`
	// HidePaths are host paths (the daemon's state dir and socket dir) covered with an empty
	// read-only tmpfs in the guest.
	HidePaths []string `json:"hide_paths"`
	// CgroupDirs maps a hierarchy's directory name under /sys/fs/cgroup to the instance's own
	// group in it; the guest's /sys/fs/cgroup shows those and nothing else.
	CgroupDirs map[string]string `json:"cgroup_dirs"`
	// AllowMountSyscalls leaves out the seccomp filter that keeps guest root from unmounting
	// its covers. Only the negative-control test sets it.
	AllowMountSyscalls bool `json:"allow_mount_syscalls,omitempty"`
	// GuestRAM says that the config message carries the instance's RAM region as an fd, to show
	// at GuestRAMPath.
	GuestRAM bool `json:"guest_ram,omitempty"`
	// Devices are the guest paths of the block devices (volumes) that come after it.
	Devices []string `json:"devices,omitempty"`
	// ram and devices are those files, as received.
	ram     *os.File
	devices []*os.File
}

// initReport is the init's one answer on fd 3: the workload's pid, or why the launch failed.
type initReport struct {
	Pid   int    `json:"pid,omitempty"`
	Error string `json:"error,omitempty"`
}

// ExitStatus is what the init writes to the status file when the workload ends.
type ExitStatus struct {
	ExitCode int `json:"ExitCode"`
}

// The fds the init inherits, after stdin, stdout and stderr.
const (
	fdSync    = 3 // SOCK_SEQPACKET pair with the daemon: config (and the RAM region's fd) in, report out
	fdControl = 4 // listening SOCK_SEQPACKET socket for exec requests
	fdStatus  = 5 // file the init writes ExitStatus to
)

// GuestRAMPath is where an instance finds its RAM region.
const GuestRAMPath = "/dev/guest-ram"

// GuestBinDir is where hostd itself appears inside every instance, so that `hostd probe …` runs
// there.
const GuestBinDir = "/run/hostd/bin"

// InitArg is the argument that makes hostd act as an instance's init.
const InitArg = "instance-init"

// GuestEnv is the environment of the init, the workload and exec'd commands: nothing of the
// daemon's environment leaks in.
func GuestEnv(id string) []string {
	return []string{
		"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:" + GuestBinDir,
		"HOME=/root",
		"HOSTNAME=" + id,
		"TERM=xterm",
	}
}
