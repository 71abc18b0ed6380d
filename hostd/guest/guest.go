// Package guest launches instances and talks to their inits. The init (package initc, in C) is
// PID 1 of the instance's PID namespace and stays host root outside every namespace the guest
// owns; the workload it forks makes the guest's user, network, UTS and IPC namespaces, and every
// guest process runs as the guest's root with Docker's default capabilities and the seccomp
// profile of package seccomp. This package computes what the init does (the plan of the guest's
// root, the id maps, the capabilities, the filter), starts it, and speaks its wire protocol: the
// launch, the daemon's watch (the workload's output and exit status), exec, and devices.
package guest

import "golang.org/x/sys/unix"

// GuestRAMPath is where an instance finds its RAM region.
const GuestRAMPath = "/dev/guest-ram"

// GuestBinDir is where hostd itself appears inside every instance, so that `hostd probe …` runs
// there. Nothing privileged ever runs it from there.
const GuestBinDir = "/run/hostd/bin"

// InitArg is the argument that makes hostd act as an instance's init.
const InitArg = "instance-init"

// GuestEnv is the environment of the workload and exec'd commands: nothing of the daemon's
// environment leaks in.
func GuestEnv(id string) []string {
	return []string{
		"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:" + GuestBinDir,
		"HOME=/root",
		"HOSTNAME=" + id,
		"TERM=xterm",
	}
}

// Capabilities are guest root's, in its own user namespace: Docker's default set. No
// CAP_SYS_ADMIN, CAP_NET_ADMIN, CAP_SYS_PTRACE or CAP_SYS_RESOURCE.
var Capabilities = map[string]int{
	"CAP_CHOWN": unix.CAP_CHOWN, "CAP_DAC_OVERRIDE": unix.CAP_DAC_OVERRIDE, "CAP_FOWNER": unix.CAP_FOWNER,
	"CAP_FSETID": unix.CAP_FSETID, "CAP_KILL": unix.CAP_KILL, "CAP_SETGID": unix.CAP_SETGID,
	"CAP_SETUID": unix.CAP_SETUID, "CAP_SETPCAP": unix.CAP_SETPCAP, "CAP_NET_BIND_SERVICE": unix.CAP_NET_BIND_SERVICE,
	"CAP_NET_RAW": unix.CAP_NET_RAW, "CAP_SYS_CHROOT": unix.CAP_SYS_CHROOT, "CAP_MKNOD": unix.CAP_MKNOD,
	"CAP_AUDIT_WRITE": unix.CAP_AUDIT_WRITE, "CAP_SETFCAP": unix.CAP_SETFCAP,
}

func capabilityMask() uint64 {
	var m uint64
	for _, c := range Capabilities {
		m |= 1 << c
	}
	return m
}

// LaunchError is a failure inside the guest, such as a command that does not exist there.
type LaunchError struct{ Reason string }

func (e *LaunchError) Error() string { return e.Reason }
