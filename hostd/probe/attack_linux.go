package probe

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"
	"unsafe"

	"github.com/elastic/go-seccomp-bpf/arch"
	"golang.org/x/sys/unix"
)

// The probes of the guest boundary: what a hostile guest root tries against its init, the
// kernel and its volumes. Each reports what the kernel answered, so that a test can tell a
// refusal from success.

// SyscallResult is what one syscall answered: "ok" or its errno's name, and over how many calls
// (one per uid with --as-uids).
type SyscallResult struct {
	Name      string `json:"Name"`
	Errno     string `json:"Errno"`
	Calls     int    `json:"Calls"`
	Succeeded int    `json:"Succeeded"`
}

// Syscalls makes each named syscall with harmless arguments and reports what it answered. With
// uids > 0 each call is made once as each of fsuids 1..uids (key quotas are per uid, which is
// what the keyring attack exploits), from one thread.
func Syscalls(names []string, uids int) ([]SyscallResult, error) {
	info, err := arch.GetInfo("")
	if err != nil {
		return nil, err
	}
	runtime.LockOSThread() // fsuid is per thread
	var out []SyscallResult
	for _, name := range names {
		nr, ok := info.SyscallNames[name]
		if !ok {
			return nil, fmt.Errorf("no syscall %q on %s", name, info.Name)
		}
		r := SyscallResult{Name: name, Errno: "ok"}
		for uid := range max(uids, 1) {
			if uids > 0 {
				unix.Setfsuid(uid + 1)
			}
			errno := call(uintptr(nr), name)
			if uids > 0 {
				unix.Setfsuid(0)
			}
			r.Calls++
			if errno == 0 {
				r.Succeeded++
			} else if r.Errno == "ok" || r.Succeeded == 0 {
				r.Errno = unix.ErrnoName(errno)
			}
		}
		if r.Succeeded == r.Calls {
			r.Errno = "ok"
		}
		out = append(out, r)
	}
	return out, nil
}

// call makes one syscall with zero arguments, or ones that make it do nothing harmful whether or
// not it is allowed: a clone the kernel rejects (a new user namespace for a thread) rather than
// a fork, keys in this process's own keyring (gone when it exits).
func call(nr uintptr, name string) unix.Errno {
	var keep [][]byte // C strings, alive until the call returns
	str := func(s string) uintptr {
		b := append([]byte(s), 0)
		keep = append(keep, b)
		return uintptr(unsafe.Pointer(&b[0]))
	}
	keyring := int32(unix.KEY_SPEC_PROCESS_KEYRING)
	processKeyring := uintptr(uint32(keyring))
	const addrNoRandomize = 0x0040000
	var args [6]uintptr
	switch name {
	case "add_key":
		args = [6]uintptr{str("user"), str("hostd-probe"), str("x"), 1, processKeyring}
	case "request_key":
		args = [6]uintptr{str("user"), str("hostd-probe-none")}
	case "keyctl":
		args = [6]uintptr{unix.KEYCTL_GET_KEYRING_ID, processKeyring, 1}
	case "clone":
		args = [6]uintptr{unix.CLONE_NEWUSER | unix.CLONE_THREAD}
	case "personality":
		args = [6]uintptr{addrNoRandomize}
	case "socket":
		args = [6]uintptr{unix.AF_VSOCK, unix.SOCK_STREAM}
	case "setns":
		args = [6]uintptr{^uintptr(0)} // fd -1
	}
	_, _, errno := unix.Syscall6(nr, args[0], args[1], args[2], args[3], args[4], args[5])
	runtime.KeepAlive(keep)
	return errno
}

// Ptrace attaches to pid and detaches again.
func Ptrace(pid int) error {
	runtime.LockOSThread() // the tracer is this thread
	defer runtime.UnlockOSThread()
	if err := unix.PtraceAttach(pid); err != nil {
		return fmt.Errorf("ptrace attach %d: %w", pid, err)
	}
	var ws unix.WaitStatus
	_, _ = unix.Wait4(pid, &ws, unix.WALL, nil)
	return unix.PtraceDetach(pid)
}

// GetFD takes a copy of pid's descriptor fd (pidfd_getfd) and says what it is.
func GetFD(pid, fd int) (string, error) {
	pfd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		return "", fmt.Errorf("pidfd_open %d: %w", pid, err)
	}
	defer unix.Close(pfd)
	got, err := unix.PidfdGetfd(pfd, fd, 0)
	if err != nil {
		return "", fmt.Errorf("pidfd_getfd %d %d: %w", pid, fd, err)
	}
	defer unix.Close(got)
	return os.Readlink(fmt.Sprintf("/proc/self/fd/%d", got))
}

// Peek reads 16 bytes of pid's memory with process_vm_readv, at the start of its first mapping
// (or, if its maps are unreadable, where a static x86-64 binary's code starts).
func Peek(pid int) ([]byte, error) {
	addr := uintptr(0x400000)
	if f, err := os.Open(fmt.Sprintf("/proc/%d/maps", pid)); err == nil {
		s := bufio.NewScanner(f)
		if s.Scan() {
			if v, err := strconv.ParseUint(strings.Split(s.Text(), "-")[0], 16, 64); err == nil {
				addr = uintptr(v)
			}
		}
		f.Close()
	}
	buf := make([]byte, 16)
	local := []unix.Iovec{{Base: &buf[0], Len: uint64(len(buf))}}
	remote := []unix.RemoteIovec{{Base: addr, Len: len(buf)}}
	if _, err := unix.ProcessVMReadv(pid, local, remote, 0); err != nil {
		return nil, fmt.Errorf("process_vm_readv %d: %w", pid, err)
	}
	return buf, nil
}

// HoldResult is what a holder wrote through the device it held, and read back.
type HoldResult struct {
	How      string `json:"How"`
	Wrote    string `json:"Wrote"`
	ReadBack string `json:"ReadBack"`
}

// Hold opens path read-write and keeps it for d without any descriptor of it in this process's
// table where it can help: "fd" keeps the descriptor, "parked" sends it over a unix socket to
// itself and closes it (it is then in flight, in no process), "mmap" maps the first page and
// closes it. ready is created once the device is held. After d, it writes text at offset 0
// through what it holds and reads it back: proof that what it held still reached the device.
func Hold(path, how string, d time.Duration, ready, text string) (*HoldResult, error) {
	fd, err := unix.Open(path, unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	var sock [2]int
	var mem []byte
	switch how {
	case "fd":
	case "parked":
		if sock, err = unix.Socketpair(unix.AF_UNIX, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0); err != nil {
			return nil, err
		}
		if err := unix.Sendmsg(sock[0], []byte{0}, unix.UnixRights(fd), nil, 0); err != nil {
			return nil, err
		}
		unix.Close(fd)
	case "mmap":
		if mem, err = unix.Mmap(fd, 0, 4096, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED); err != nil {
			return nil, err
		}
		unix.Close(fd)
	default:
		return nil, fmt.Errorf("hold how? fd, parked or mmap, not %q", how)
	}
	if ready != "" {
		if err := os.WriteFile(ready, nil, 0o644); err != nil {
			return nil, err
		}
	}
	time.Sleep(d)

	res := &HoldResult{How: how, Wrote: text}
	back := make([]byte, len(text))
	switch how {
	case "parked":
		oob := make([]byte, unix.CmsgSpace(4))
		_, oobn, _, _, err := unix.Recvmsg(sock[1], make([]byte, 1), oob, 0)
		if err != nil {
			return nil, err
		}
		msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
		if err != nil || len(msgs) != 1 {
			return nil, errors.New("the parked descriptor did not come back")
		}
		fds, err := unix.ParseUnixRights(&msgs[0])
		if err != nil || len(fds) != 1 {
			return nil, errors.New("the parked descriptor did not come back")
		}
		fd = fds[0]
		fallthrough
	case "fd":
		defer unix.Close(fd)
		if _, err := unix.Pwrite(fd, []byte(text), 0); err != nil {
			return nil, fmt.Errorf("writing through the held descriptor: %w", err)
		}
		if err := unix.Fsync(fd); err != nil {
			return nil, err
		}
		if _, err := unix.Pread(fd, back, 0); err != nil {
			return nil, err
		}
	case "mmap":
		copy(mem, text)
		if err := unix.Msync(mem, unix.MS_SYNC); err != nil {
			return nil, err
		}
		copy(back, mem)
	}
	res.ReadBack = string(back)
	return res, nil
}
