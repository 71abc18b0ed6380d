package guest

import (
	"fmt"
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The guest's root filesystem is assembled inside its own user namespace, so guest root holds
// CAP_SYS_ADMIN over its mount table and could unmount the covers the init put up: its /proc
// (revealing the host's), its /tmp and /run (revealing the host's, read-only), the cover on the
// daemon's state dir. So after building the root, the init forbids every syscall that changes a
// mount table, for itself and everything it starts, with a seccomp filter (Docker's default
// profile refuses the same calls). Guests lose mount(2); they gain nothing the host holds.
var mountSyscalls = []uint32{
	unix.SYS_MOUNT, unix.SYS_UMOUNT2, unix.SYS_PIVOT_ROOT, unix.SYS_MOUNT_SETATTR,
	unix.SYS_MOVE_MOUNT, unix.SYS_OPEN_TREE, unix.SYS_FSOPEN, unix.SYS_FSCONFIG, unix.SYS_FSMOUNT, unix.SYS_FSPICK,
}

// auditArch is the seccomp architecture of this build; syscalls of any other ABI (32-bit x86 on
// amd64, say) are refused outright, since their numbers differ and would slip past the list.
var auditArch = map[string]uint32{"amd64": unix.AUDIT_ARCH_X86_64, "arm64": unix.AUDIT_ARCH_AARCH64}

// x32SyscallBit marks syscalls of the x32 ABI, which shares amd64's arch value.
const x32SyscallBit = 0x40000000

// denyMountSyscalls installs the filter on every thread of the init (TSYNC, which also spreads
// no_new_privs), and children inherit it. Every thread, not only the one that forks: guest root
// may ptrace its PID 1, and an unfiltered thread of the init would unmount for it. no_new_privs
// must already be set on the calling thread.
func denyMountSyscalls() error {
	arch, ok := auditArch[runtime.GOARCH]
	if !ok {
		return fmt.Errorf("no seccomp filter for %s", runtime.GOARCH)
	}
	const (
		offNr   = 0 // offsetof(struct seccomp_data, nr)
		offArch = 4 // offsetof(struct seccomp_data, arch)
	)
	deny := unix.SockFilter{Code: unix.BPF_RET | unix.BPF_K, K: unix.SECCOMP_RET_ERRNO | uint32(unix.EPERM)}
	allow := unix.SockFilter{Code: unix.BPF_RET | unix.BPF_K, K: unix.SECCOMP_RET_ALLOW}
	prog := []unix.SockFilter{
		{Code: unix.BPF_LD | unix.BPF_W | unix.BPF_ABS, K: offArch},
		{Code: unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, K: arch, Jt: 1},
		deny,
		{Code: unix.BPF_LD | unix.BPF_W | unix.BPF_ABS, K: offNr},
	}
	// From here each test jumps to the deny at the end when it matches.
	tests := len(mountSyscalls) + 1
	prog = append(prog, unix.SockFilter{Code: unix.BPF_JMP | unix.BPF_JGE | unix.BPF_K, K: x32SyscallBit, Jt: uint8(tests)})
	for i, nr := range mountSyscalls {
		prog = append(prog, unix.SockFilter{Code: unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, K: nr, Jt: uint8(tests - 1 - i)})
	}
	prog = append(prog, allow, deny)
	fprog := unix.SockFprog{Len: uint16(len(prog)), Filter: &prog[0]}
	tid, _, errno := unix.RawSyscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, unix.SECCOMP_FILTER_FLAG_TSYNC, uintptr(unsafe.Pointer(&fprog)))
	if errno != 0 {
		return errno
	}
	if tid != 0 {
		return fmt.Errorf("thread %d could not take the filter", tid)
	}
	return nil
}
