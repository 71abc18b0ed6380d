package seccomp

import (
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"testing"
	"unsafe"

	"github.com/elastic/go-seccomp-bpf/arch"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// verdict is the table's own answer for a syscall: what the assembled program must return.
func verdict(info *arch.Info, nr int, args [6]uint64) uint32 {
	name, known := info.SyscallNumbers[nr]
	switch {
	case nr > info.SyscallNames[newestKnown]:
		return Absent
	case !known:
		return Refuse
	case slices.Contains(enosys, name):
		return Absent
	case slices.Contains(allowed, name):
		return Allow
	}
	for _, r := range conditional {
		if r.Name == name && holds(r.When, args) {
			return Allow
		}
	}
	return Refuse
}

func holds(conds []condition, args [6]uint64) bool {
	for _, c := range conds {
		a := args[c.Arg]
		switch {
		case c.Equal != nil && a != *c.Equal,
			c.NotEqual != nil && a == *c.NotEqual,
			c.NoBitsOf != nil && a&*c.NoBitsOf != 0:
			return false
		}
	}
	return true
}

// evaluate runs the assembled filter on one struct seccomp_data as the kernel does: classic BPF
// over the native-endian struct. It knows the instructions the assembler emits and fails on any
// other.
func evaluate(t *testing.T, filter []byte, auditArch uint32, nr uint32, args [6]uint64) uint32 {
	data := make([]byte, 64)
	binary.NativeEndian.PutUint32(data[0:], nr)
	binary.NativeEndian.PutUint32(data[4:], auditArch)
	for i, a := range args {
		binary.NativeEndian.PutUint64(data[16+8*i:], a)
	}
	var acc uint32
	for pc := 0; pc < len(filter)/8; {
		ins := filter[8*pc:]
		code, jt, jf, k := binary.NativeEndian.Uint16(ins), ins[2], ins[3], binary.NativeEndian.Uint32(ins[4:])
		jump := func(cond bool) {
			if cond {
				pc += 1 + int(jt)
			} else {
				pc += 1 + int(jf)
			}
		}
		switch code {
		case unix.BPF_LD | unix.BPF_W | unix.BPF_ABS:
			require.Less(t, int(k)+4, len(data)+1)
			acc = binary.NativeEndian.Uint32(data[k:])
			pc++
		case unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K:
			jump(acc == k)
		case unix.BPF_JMP | unix.BPF_JGT | unix.BPF_K:
			jump(acc > k)
		case unix.BPF_JMP | unix.BPF_JGE | unix.BPF_K:
			jump(acc >= k)
		case unix.BPF_JMP | unix.BPF_JSET | unix.BPF_K:
			jump(acc&k != 0)
		case unix.BPF_JMP | unix.BPF_JA:
			pc += 1 + int(k)
		case unix.BPF_RET | unix.BPF_K:
			return k
		default:
			t.Fatalf("instruction %d: unexpected code %#x", pc, code)
		}
	}
	t.Fatal("the filter ran off its end")
	return 0
}

// Every syscall number, with the arguments that matter to the conditional ones, gets from the
// assembled program exactly what the table says.
func TestFilterMatchesTheTable(t *testing.T) {
	info, err := arch.GetInfo("")
	require.NoError(t, err)
	filter, err := Filter()
	require.NoError(t, err)
	require.Less(t, len(filter)/8, unix.BPF_MAXINSNS)

	argSets := [][6]uint64{{}}
	for _, v := range []uint64{0, 8, 0x20000, 0x20008, 0xffffffff, 0x400000, 0x0040000, 1 << 32, 0xffffffff | 1<<32,
		unix.AF_INET, unix.AF_PACKET, unix.AF_VSOCK, unix.AF_VSOCK | 1<<32,
		unix.CLONE_VM | unix.CLONE_FS | unix.CLONE_FILES | unix.CLONE_SIGHAND | unix.CLONE_THREAD | unix.CLONE_SYSVSEM,
		uint64(unix.SIGCHLD) | unix.CLONE_VFORK | unix.CLONE_VM | unix.CLONE_PIDFD} {
		argSets = append(argSets, [6]uint64{v})
	}
	for bit := uint64(1); bit != 0 && bit < 1<<40; bit <<= 1 {
		argSets = append(argSets, [6]uint64{bit | uint64(unix.SIGCHLD)})
	}
	newest := info.SyscallNames[newestKnown]
	checked := 0
	for nr := 0; nr <= newest+30; nr++ {
		for _, args := range argSets {
			want := verdict(info, nr, args)
			got := evaluate(t, filter, uint32(info.ID), uint32(nr), args)
			require.Equal(t, want, got, "syscall %d (%s) with %#x", nr, info.SyscallNumbers[nr], args[0])
			checked++
		}
	}
	t.Logf("%d syscalls × argument sets checked, %d instructions", checked, len(filter)/8)

	// Another ABI on the same machine is refused whatever it calls.
	if runtime.GOARCH == "amd64" {
		assert.Equal(t, Refuse, evaluate(t, filter, unix.AUDIT_ARCH_I386, 1, [6]uint64{}), "32-bit x86")
		assert.Equal(t, Absent, evaluate(t, filter, uint32(info.ID), 0x40000000|1, [6]uint64{}), "x32")
	}
}

// The refusals the issue names are in the profile, and the calls a guest's programs need are not.
func TestProfileRefusesWhatDockerRefuses(t *testing.T) {
	refused := Refused()
	for _, name := range []string{"add_key", "keyctl", "request_key", "io_uring_setup", "io_uring_enter",
		"io_uring_register", "unshare", "setns", "userfaultfd", "name_to_handle_at", "open_by_handle_at",
		"move_pages", "mount", "umount2", "pivot_root", "open_tree", "move_mount", "fsopen", "fsmount",
		"fspick", "fsconfig", "mount_setattr", "bpf", "perf_event_open", "kexec_load", "kexec_file_load",
		"init_module", "finit_module", "delete_module", "acct", "swapon", "swapoff", "reboot",
		"pidfd_getfd", "sethostname", "clone3"} {
		assert.Contains(t, refused, name)
	}
	for _, name := range []string{"ptrace", "read", "clone", "personality", "socket", "execve", "chroot"} {
		assert.NotContains(t, refused, name)
	}
}

// The filter in the kernel: a child of this test installs it and makes real calls, and a child
// without it makes the same calls (the control).
// kernelCalls are made with and without the filter by TestFilterInTheKernel's children.
func kernelCalls() map[string]func() error {
	raw := func(nr, a0 uintptr) func() error {
		return func() error {
			if _, _, e := unix.RawSyscall(nr, a0, 0, 0); e != 0 {
				return e
			}
			return nil
		}
	}
	return map[string]func() error{
		"unshare(0)":      func() error { return unix.Unshare(0) },
		"getpid":          raw(unix.SYS_GETPID, 0),
		"clone3(size 0)":  raw(unix.SYS_CLONE3, 0),
		"personality(-1)": raw(unix.SYS_PERSONALITY, 0xffffffff),
		"add_key": func() error {
			_, err := unix.AddKey("user", "hostd-seccomp-test", []byte("x"), unix.KEY_SPEC_PROCESS_KEYRING)
			return err
		},
		"socket(AF_VSOCK)": func() error { return socket(unix.AF_VSOCK) },
		"socket(AF_INET)":  func() error { return socket(unix.AF_INET) },
	}
}

func socket(family int) error {
	fd, err := unix.Socket(family, unix.SOCK_STREAM, 0)
	if err == nil {
		unix.Close(fd)
	}
	return err
}

// The filter in the kernel: a child of this test installs it and makes real calls, and a child
// without it makes the same calls (the control).
func TestFilterInTheKernel(t *testing.T) {
	calls := kernelCalls()
	if os.Getenv("HOSTD_SECCOMP_CHILD") != "" {
		return // run by the helper below
	}
	results := func(filtered bool) map[string]string {
		cmd := exec.Command(os.Args[0], "-test.run=^TestFilterInTheKernelHelper$")
		cmd.Env = append(os.Environ(), "HOSTD_SECCOMP_CHILD=1")
		if filtered {
			cmd.Env = append(cmd.Env, "HOSTD_SECCOMP_FILTERED=1")
		}
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "%s", out)
		got := map[string]string{}
		for _, line := range strings.Split(string(out), "\n") {
			if name, res, ok := strings.Cut(line, " => "); ok {
				got[name] = res
			}
		}
		require.Len(t, got, len(calls), "%s", out)
		return got
	}
	with, without := results(true), results(false)
	for call, want := range map[string]string{
		"unshare(0)": "EPERM", "getpid": "ok", "add_key": "EPERM", "clone3(size 0)": "ENOSYS",
		"personality(-1)": "ok", "socket(AF_VSOCK)": "EPERM", "socket(AF_INET)": "ok",
	} {
		assert.Equal(t, want, with[call], "%s with the filter", call)
	}
	// Control: without the filter the refused calls reach the kernel.
	assert.Equal(t, "ok", without["unshare(0)"])
	assert.Equal(t, "ok", without["add_key"])
	assert.Equal(t, "EINVAL", without["clone3(size 0)"])
	assert.NotEqual(t, "EPERM", without["socket(AF_VSOCK)"])
}

func TestFilterInTheKernelHelper(t *testing.T) {
	if os.Getenv("HOSTD_SECCOMP_CHILD") == "" {
		t.Skip("run by TestFilterInTheKernel")
	}
	runtime.LockOSThread()
	if os.Getenv("HOSTD_SECCOMP_FILTERED") != "" {
		filter, err := Filter()
		require.NoError(t, err)
		require.NoError(t, unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))
		prog := unix.SockFprog{Len: uint16(len(filter) / 8), Filter: (*unix.SockFilter)(unsafe.Pointer(&filter[0]))}
		_, _, e := unix.RawSyscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, unix.SECCOMP_FILTER_FLAG_TSYNC, uintptr(unsafe.Pointer(&prog)))
		require.Zero(t, e)
	}
	for name, call := range kernelCalls() {
		res := "ok"
		if err := call(); err != nil {
			res = unix.ErrnoName(err.(unix.Errno))
		}
		fmt.Printf("%s => %s\n", name, res)
	}
}
