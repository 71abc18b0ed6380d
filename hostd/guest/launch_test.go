package guest_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hostd/hostd/hostd/cgroup"
	"github.com/hostd/hostd/hostd/guest"
	"github.com/hostd/hostd/hostd/guest/initc"
	"github.com/hostd/hostd/hostd/hostdtest"
	"github.com/hostd/hostd/memscrub"
	"golang.org/x/sys/unix"
)

// launch starts one instance straight through the launcher, without a daemon, and removes it
// when the test ends.
func launch(t *testing.T, spec guest.Spec) (*guest.Launcher, *guest.Process) {
	return launchWith(t, spec, cgroup.Limits{Pids: 100})
}

func launchWith(t *testing.T, spec guest.Spec, limits cgroup.Limits) (*guest.Launcher, *guest.Process) {
	t.Helper()
	hostdtest.RequireRoot(t)
	// Short: the control socket's path must fit a sockaddr_un.
	dir, err := os.MkdirTemp("", "g")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	l := &guest.Launcher{InitPath: hostdtest.Binary(t), RunDir: filepath.Join(dir, "instances")}
	ids := &guest.IDAllocator{Dir: guest.DefaultIDDir, Owner: dir}
	slot, err := ids.Allocate(spec.ID)
	require.NoError(t, err)
	parent := fmt.Sprintf("hostd/guesttest%d", os.Getpid())
	g, err := cgroup.New(parent+"/"+spec.ID, limits)
	require.NoError(t, err)
	t.Cleanup(func() {
		assert.NoError(t, g.Kill())
		assert.NoError(t, g.Delete())
		cgroup.RemoveEmpty(parent, "hostd")
		ids.Release(slot)
	})
	spec.IDs, spec.Group = ids.Range(slot), g
	proc, err := l.Launch(spec)
	require.NoError(t, err)
	return l, proc
}

// run runs a shell command in the instance and returns what it printed, stdout and stderr together.
func run(t *testing.T, l *guest.Launcher, id, script string) string {
	t.Helper()
	r, w, err := os.Pipe()
	require.NoError(t, err)
	defer r.Close()
	devNull, err := os.Open(os.DevNull)
	require.NoError(t, err)
	defer devNull.Close()
	_, err = guest.Exec(l.ControlSocket(id), []string{"sh", "-c", script}, [3]*os.File{devNull, w, w})
	w.Close()
	require.NoError(t, err)
	out, err := io.ReadAll(r)
	require.NoError(t, err)
	return string(out)
}

// The attack: guest root unmounts the /proc and /tmp the init mounted for it, to look at the
// host's underneath. The guest's mount namespace belongs to the host's user namespace, so guest
// root holds no privilege over it: the unmounts fail even with the seccomp filter off. The
// control: host root in the same mount namespace lifts the same cover, and the guest then sees
// the host's /tmp.
func TestGuestCannotUnmountItsCovers(t *testing.T) {
	hostdtest.RequireRoot(t)
	marker := hostTmpMarker(t)
	attack := "umount -l /proc; umount -l /tmp; ls /proc | grep -c '^[0-9]'; ls /tmp"

	l, proc := launch(t, guest.Spec{ID: "i-0000000000000000a", Args: []string{"sleep", "1000"}, NoSeccomp: true})
	out := run(t, l, "i-0000000000000000a", attack)
	// umount(8) words EPERM as "must be superuser".
	assert.Regexp(t, `must be superuser|Operation not permitted`, out)
	assert.NotContains(t, out, marker, "the guest saw the host's /tmp")
	// A handful of processes of its own: the init, the workload, the shell.
	assert.Regexp(t, `(?m)^[1-5]$`, out)

	// Control: the cover comes off for someone privileged over the namespace.
	lift := exec.Command("nsenter", fmt.Sprintf("--target=%d", proc.Pid), "--mount", "--pid", "--root", "umount", "-l", "/tmp")
	lifted, err := lift.CombinedOutput()
	require.NoError(t, err, "%s", lifted)
	assert.Contains(t, run(t, l, "i-0000000000000000a", "ls /tmp"), marker,
		"control: with the cover lifted the guest should see the host's /tmp")
}

// hostTmpMarker makes a file in the /tmp directory of the host's root filesystem, which is what
// lies under a guest's /tmp cover (a host that mounts a tmpfs on /tmp hides that from guests
// anyway), and returns its name.
func hostTmpMarker(t *testing.T) string {
	rootView := t.TempDir()
	require.NoError(t, unix.Mount("/", rootView, "", unix.MS_BIND, ""))
	t.Cleanup(func() { assert.NoError(t, unix.Unmount(rootView, unix.MNT_DETACH)) })
	marker, err := os.CreateTemp(filepath.Join(rootView, "tmp"), "hostd-host-only-")
	require.NoError(t, err)
	marker.Close()
	t.Cleanup(func() { os.Remove(marker.Name()) })
	return filepath.Base(marker.Name())
}

// Raw disk access: a block device node inside a guest, owned by its root, opens only if the
// device allowlist admits it. The control admits it and the same read succeeds.
func TestDeviceAllowlistIsWhatStopsRawDiskAccess(t *testing.T) {
	hostdtest.RequireRoot(t)
	store := filepath.Join(t.TempDir(), "disk.img")
	require.NoError(t, os.WriteFile(store, []byte(strings.Repeat("raw disk bytes ", 1<<16)), 0o600))
	loop, err := memscrub.AttachLoop(store, memscrub.Extent{Offset: 0, Size: 1 << 20})
	require.NoError(t, err)
	var orig unix.Stat_t
	require.NoError(t, unix.Stat(loop.Path, &orig))
	t.Cleanup(func() {
		assert.NoError(t, os.Chown(loop.Path, int(orig.Uid), int(orig.Gid)))
		assert.NoError(t, loop.Detach())
	})
	for _, allowed := range []bool{false, true} {
		t.Run(fmt.Sprintf("allowed=%v", allowed), func(t *testing.T) {
			id := "i-000000000000000c1"
			if allowed {
				id = "i-000000000000000c2"
			}
			limits := cgroup.Limits{Pids: 100}
			if allowed {
				limits.BlockDevices = []cgroup.Device{{Major: int64(loop.Major), Minor: int64(loop.Minor)}}
			}
			spec := guest.Spec{ID: id, Args: []string{"sleep", "1000"}, Devices: []guest.DeviceNode{{HostPath: loop.Path, GuestPath: "/dev/xvdz"}}}
			spec.BeforeStart = func(pid int) error { return chownToGuest(loop.Path, pid) }
			l, _ := launchWith(t, spec, limits)
			out := run(t, l, id, "head -c 14 /dev/xvdz; echo; ls -l /dev/xvdz")
			if allowed {
				assert.Contains(t, out, "raw disk bytes", "control: admitted, the device should read")
			} else {
				assert.Contains(t, out, "Operation not permitted", "the guest read a device the allowlist does not admit")
				assert.NotContains(t, out, "raw disk bytes")
			}
			assert.Contains(t, out, "brw", "the node is in the guest either way")
		})
	}
}

// chownToGuest gives a device node to the guest root of the instance whose init is pid, as the
// daemon does for a volume, so that only the device allowlist stands between guest and device.
func chownToGuest(path string, pid int) error {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/uid_map", pid))
	if err != nil {
		return err
	}
	var inside, host, size int
	if _, err := fmt.Sscan(string(data), &inside, &host, &size); err != nil {
		return err
	}
	return os.Chown(path, host, host)
}

// The controls of the boundary tests in hostd's boundary_test.go, in a guest without the seccomp
// filter: what the filter alone stops gets through here (keys as many uids, new namespaces,
// io_uring), while what the init's identity stops does not (its descriptors), and the same probe
// does take a sibling's.
func TestWithoutTheFilter(t *testing.T) {
	const id = "i-0000000000000000d"
	l, _ := launch(t, guest.Spec{ID: id, Args: []string{"sleep", "1000"}, NoSeccomp: true})
	out := run(t, l, id, "hostd probe syscall --as-uids 50 add_key unshare io_uring_setup userfaultfd")
	var res struct {
		Syscalls []struct {
			Name, Errno string
			Succeeded   int
		}
	}
	require.NoError(t, json.Unmarshal([]byte(out), &res), out)
	got := map[string]string{}
	for _, r := range res.Syscalls {
		got[r.Name] = r.Errno
	}
	assert.Equal(t, 50, res.Syscalls[0].Succeeded, "control: add_key as 50 uids should work unfiltered")
	assert.Equal(t, "ok", got["unshare"])
	assert.NotEqual(t, "EPERM", got["io_uring_setup"])

	assert.Contains(t, run(t, l, id, "hostd probe getfd --pid 1 --fd 3"), "operation not permitted", "the init's descriptor was taken")
	assert.Contains(t, run(t, l, id, "hostd probe getfd --pid 2 --fd 1"), `"Target"`, "control: a sibling's descriptor should be taken")
}

// Garbage on a live init's control socket (from host root, the only one who can connect) is
// refused message by message; the init goes on serving and its /dev is intact.
func TestInitSurvivesGarbageOnItsSocket(t *testing.T) {
	const id = "i-0000000000000000e"
	l, proc := launch(t, guest.Spec{ID: id, Args: []string{"sleep", "1000"}})
	pipeR, pipeW, err := os.Pipe()
	require.NoError(t, err)
	defer pipeR.Close()
	defer pipeW.Close()
	frame := initc.Frame
	garbage := []struct {
		name  string
		msg   []byte
		files []*os.File
	}{
		{"3 bytes", []byte{1, 2, 3}, nil},
		{"length past the message", append(frame(initc.MsgExec, []byte("sh\x00"))[:8], 'x'), nil},
		{"length short of the message", append(frame(initc.MsgExec, []byte("sh\x00")), 'x'), nil},
		{"unknown type", frame(999, nil), nil},
		{"exec without files", frame(initc.MsgExec, []byte("sh\x00")), nil},
		{"exec with one file", frame(initc.MsgExec, []byte("sh\x00")), []*os.File{pipeR}},
		{"exec with four files", frame(initc.MsgExec, []byte("sh\x00")), []*os.File{pipeR, pipeW, pipeW, pipeW}},
		{"exec of unterminated arguments", frame(initc.MsgExec, []byte("sh")), []*os.File{pipeR, pipeW, pipeW}},
		{"exec of an empty command", frame(initc.MsgExec, []byte("\x00")), []*os.File{pipeR, pipeW, pipeW}},
		{"oversized", frame(initc.MsgExec, bytes.Repeat([]byte("a"), 80<<10)), nil},
		{"ack unasked", frame(initc.MsgAck, nil), nil},
		{"signal without a command", frame(initc.MsgSignal, initc.Uint32(9)), nil},
		{"watch with a payload", frame(initc.MsgWatch, []byte("x")), nil},
		{"attach a path", frame(initc.MsgAttach, []byte("../etc/x\x00")), []*os.File{pipeR}},
		{"attach over a device", frame(initc.MsgAttach, []byte("null\x00")), []*os.File{pipeR}},
		{"attach something not a mount", frame(initc.MsgAttach, []byte("xvdq\x00")), []*os.File{pipeR}},
		{"detach a device it did not attach", frame(initc.MsgDetach, []byte("null\x00")), nil},
	}
	for _, g := range garbage {
		conn, err := net.DialUnix("unixpacket", nil, &net.UnixAddr{Name: l.ControlSocket(id), Net: "unixpacket"})
		require.NoError(t, err, g.name)
		var oob []byte
		if len(g.files) > 0 {
			var fds []int
			for _, f := range g.files {
				fds = append(fds, int(f.Fd()))
			}
			oob = unix.UnixRights(fds...)
		}
		_, _, err = conn.WriteMsgUnix(g.msg, oob, nil)
		require.NoError(t, err, g.name)
		_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		m, err := initc.Receive(conn)
		if err == nil {
			assert.Equal(t, uint32(initc.MsgError), m.Type, "%s was not refused", g.name)
		}
		conn.Close()
	}
	assert.Equal(t, "alive\nnull\n", run(t, l, id, "echo alive; ls /dev | grep -x null"))
	assert.NoError(t, unix.Kill(proc.Pid, 0))
}
