package cgroup_test

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/containerd/cgroups/v3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/hostd/hostd/hostd/cgroup"
	"github.com/hostd/hostd/hostd/hostdtest"
)

// openerEnv makes the test binary the process that opens devices from inside a group.
const openerEnv = "HOSTD_CGROUP_TEST_OPENER"

func TestMain(m *testing.M) {
	if os.Getenv(openerEnv) == "1" {
		openEach()
		return
	}
	os.Exit(m.Run())
}

// openEach opens each path read on stdin and answers "allowed" or "denied" for it. A block
// device that no driver serves fails with ENXIO, but only after the cgroup's check let it
// through: what is tested is the allowlist, not the device.
func openEach() {
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		f, err := os.OpenFile(in.Text(), os.O_RDWR, 0)
		switch {
		case err == nil:
			f.Close()
			fmt.Println("allowed")
		case errors.Is(err, syscall.EPERM):
			fmt.Println("denied")
		case errors.Is(err, syscall.ENXIO):
			fmt.Println("allowed")
		default:
			fmt.Println(err)
		}
	}
}

// opener is a process inside a group that opens paths on request.
type opener struct {
	in  io.WriteCloser
	out *bufio.Scanner
}

func startOpener(t *testing.T, g cgroup.Group) *opener {
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), openerEnv+"=1")
	in, err := cmd.StdinPipe()
	require.NoError(t, err)
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		in.Close()
		_ = cmd.Wait()
	})
	require.NoError(t, g.Add(cmd.Process.Pid))
	return &opener{in: in, out: bufio.NewScanner(out)}
}

func (o *opener) open(t *testing.T, path string) string {
	t.Helper()
	_, err := fmt.Fprintln(o.in, path)
	require.NoError(t, err)
	require.True(t, o.out.Scan(), "the opener died")
	return o.out.Text()
}

// blockNodes makes device nodes for n block devices of a major no driver has: opening one is
// decided by the allowlist alone.
func blockNodes(t *testing.T, n int) ([]cgroup.Device, []string) {
	dir, err := os.MkdirTemp("/var/tmp", "hostd-cgroup-test-") // not /tmp, which may be nodev
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	var devs []cgroup.Device
	var paths []string
	for i := range n {
		d := cgroup.Device{Major: 240, Minor: int64(200 + i)}
		p := filepath.Join(dir, fmt.Sprintf("b%d", i))
		require.NoError(t, unix.Mknod(p, unix.S_IFBLK|0o600, int(unix.Mkdev(uint32(d.Major), uint32(d.Minor)))))
		devs, paths = append(devs, d), append(paths, p)
	}
	return devs, paths
}

func newGroup(t *testing.T, name string, l cgroup.Limits) (cgroup.Group, string) {
	parent := fmt.Sprintf("hostd/cgrouptest%d", os.Getpid())
	path := parent + "/" + name
	g, err := cgroup.New(path, l)
	require.NoError(t, err)
	t.Cleanup(func() {
		assert.NoError(t, g.Kill())
		assert.NoError(t, g.Delete())
		cgroup.RemoveEmpty(parent, "hostd")
	})
	return g, path
}

// The allowlist admits exactly the block devices given, through every change: at creation,
// allowing and denying one at a time, and across a Load, which is what a restarted daemon does.
// On cgroup v2 each change replaces the group's eBPF program; an earlier program left attached
// beside it would keep a device allowed later denied, and a loaded group that changed its list
// from nothing would drop the others.
func TestBlockDeviceAllowlist(t *testing.T) {
	hostdtest.RequireRoot(t)
	devs, paths := blockNodes(t, 3)
	a, b, c := devs[0], devs[1], devs[2]
	g, path := newGroup(t, "allowlist", cgroup.Limits{BlockDevices: []cgroup.Device{a}})
	o := startOpener(t, g)
	expect := func(what string, want ...string) {
		t.Helper()
		var got []string
		for _, p := range paths {
			got = append(got, o.open(t, p))
		}
		assert.Equal(t, want, got, what)
		assert.Equal(t, "allowed", o.open(t, "/dev/null"), "%s: the base list", what)
		if cgroups.Mode() == cgroups.Unified {
			dir, err := os.Open(filepath.Join(cgroup.Root, path))
			require.NoError(t, err)
			defer dir.Close()
			progs, err := link.QueryPrograms(link.QueryOptions{Target: int(dir.Fd()), Attach: ebpf.AttachCGroupDevice})
			require.NoError(t, err)
			assert.Len(t, progs.Programs, 1, "%s: device programs attached", what)
		}
	}
	expect("at creation", "allowed", "denied", "denied")
	require.NoError(t, g.AllowBlockDevice(b))
	expect("b allowed", "allowed", "allowed", "denied")
	require.NoError(t, g.DenyBlockDevice(a))
	expect("a denied", "denied", "allowed", "denied")

	loaded, err := cgroup.Load(path)
	require.NoError(t, err)
	expect("after a load", "denied", "allowed", "denied")
	require.ErrorIs(t, loaded.AllowBlockDevice(c), cgroup.ErrBlockDevicesUnknown, "a change to a list the group does not know")
	require.ErrorIs(t, loaded.DenyBlockDevice(b), cgroup.ErrBlockDevicesUnknown)
	expect("after the refused changes", "denied", "allowed", "denied")
	require.NoError(t, loaded.SetBlockDevices([]cgroup.Device{b}))
	expect("the list set again", "denied", "allowed", "denied")
	require.NoError(t, loaded.AllowBlockDevice(c))
	expect("c allowed after the load", "denied", "allowed", "allowed")
	require.NoError(t, loaded.DenyBlockDevice(b))
	expect("b denied after the load", "denied", "denied", "allowed")
	require.NoError(t, loaded.SetBlockDevices(nil))
	expect("none", "denied", "denied", "denied")
}

// The control: without a group, the same opens get through, so the test above sees the
// allowlist and not the nodes.
func TestBlockNodesOpenOutsideAGroup(t *testing.T) {
	hostdtest.RequireRoot(t)
	_, paths := blockNodes(t, 1)
	_, err := os.OpenFile(paths[0], os.O_RDWR, 0)
	require.True(t, errors.Is(err, syscall.ENXIO), "opening a node of no driver outside any group: %v", err)
}
