package main_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hostd/hostd/hostd/api"
	"github.com/hostd/hostd/hostd/hostdtest"
)

func describe(t *testing.T, d *hostdtest.Daemon, id string) api.Instance {
	t.Helper()
	var out api.DescribeInstancesResponse
	d.JSON(&out, "instance", "describe", id)
	require.Len(t, out.Instances, 1)
	return out.Instances[0]
}

// Two tenants' instances, and what each can see of itself, of the other and of the host.
func TestIsolationFacts(t *testing.T) {
	d := hostdtest.Start(t)
	a := d.Launch("--", "sleep", "1000")
	b := d.Launch("--", "sleep", "1000")

	t.Run("own PID namespace with the init as PID 1", func(t *testing.T) {
		assert.Equal(t, "hostd instance-init "+a, strings.TrimSpace(strings.ReplaceAll(d.MustExec(a, "cat", "/proc/1/cmdline"), "\x00", " ")))
		// The init, the workload, and the shell counting: nothing of B or of the host.
		pids := strings.Fields(d.MustExec(a, "sh", "-c", "ls /proc | grep '^[0-9]'"))
		assert.LessOrEqual(t, len(pids), 5, "A sees processes that are not its own: %v", pids)
		hostPidOfB := strconv.Itoa(describe(t, d, b).Pid)
		assert.NotContains(t, pids, hostPidOfB)
	})

	t.Run("own hostname", func(t *testing.T) {
		assert.Equal(t, a, d.MustExec(a, "hostname"))
		assert.Equal(t, b, d.MustExec(b, "hostname"))
		host, _ := os.Hostname()
		assert.NotEqual(t, host, d.MustExec(a, "hostname"))
	})

	t.Run("own filesystem writes", func(t *testing.T) {
		d.MustExec(a, "sh", "-c", "echo secret-of-a > /tmp/note && echo run-of-a > /run/note")
		assert.Equal(t, "secret-of-a", d.MustExec(a, "cat", "/tmp/note"))
		for _, f := range []string{"/tmp/note", "/run/note"} {
			_, _, code := d.Exec(b, "cat", f)
			assert.NotEqual(t, 0, code, "B reads A's %s", f)
			assert.NoFileExists(t, f, "A's write reached the host")
		}
		_, errOut, code := d.Exec(a, "touch", "/etc/hostd-was-here")
		assert.NotEqual(t, 0, code)
		assert.Contains(t, errOut, "Read-only file system")
	})

	t.Run("guest root is an unprivileged host uid, distinct per instance", func(t *testing.T) {
		assert.Equal(t, "0", d.MustExec(a, "id", "-u"))
		da, db := describe(t, d, a), describe(t, d, b)
		require.NotNil(t, da.UserNamespace)
		require.NotNil(t, db.UserNamespace)
		assert.NotZero(t, da.UserNamespace.HostId)
		assert.NotEqual(t, da.UserNamespace.HostId, db.UserNamespace.HostId)
		assert.Equal(t, fmt.Sprintf("0 %d 65536", da.UserNamespace.HostId), strings.Join(strings.Fields(d.MustExec(a, "cat", "/proc/self/uid_map")), " "))
		// Seen from the host, A's workload (the init's child) runs as that uid; the init (describe's
		// Pid) stays host root, in the host's user namespace, which the guest cannot touch.
		status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", workloadPid(t, da.Pid)))
		require.NoError(t, err)
		assert.Contains(t, string(status), fmt.Sprintf("Uid:\t%d\t", da.UserNamespace.HostId))
		assert.Regexp(t, `(?m)^Groups:\s*$`, string(status), "host root's groups followed the workload into the guest")
	})

	t.Run("cannot read a root-only host file", func(t *testing.T) {
		secret := filepath.Join(d.Dir, "root-only")
		require.NoError(t, os.WriteFile(secret, []byte("host secret"), 0o600))
		_, errOut, code := d.Exec(a, "cat", secret)
		assert.NotEqual(t, 0, code)
		assert.Contains(t, errOut, "Permission denied")
		// Negative control: the same file made world-readable is read, so the denial above is the
		// uid mapping at work and not a path the guest cannot reach.
		require.NoError(t, os.Chmod(secret, 0o644))
		assert.Equal(t, "host secret", d.MustExec(a, "cat", secret))
	})

	t.Run("cannot mknod or open a block device", func(t *testing.T) {
		_, errOut, code := d.Exec(a, "mknod", "/tmp/disk", "b", "8", "0")
		assert.NotEqual(t, 0, code)
		assert.Contains(t, errOut, "Operation not permitted")
		// [ -b ] stats each node: a device bound onto a file shows up, which find -type would miss.
		out := d.MustExec(a, "sh", "-c", "for f in /dev/* /dev/*/*; do [ -b $f ] && echo $f; done | wc -l")
		assert.Equal(t, "0", out, "the guest's /dev holds block devices")
		for _, dev := range hostBlockDevices(t) {
			_, _, code := d.Exec(a, "head", "-c", "1", dev)
			assert.NotEqual(t, 0, code, "guest opened %s", dev)
		}
	})

	t.Run("the daemon's state dir and socket are hidden", func(t *testing.T) {
		// Root's alone (0700): guest root's capabilities stop at its own user namespace.
		_, errOut, code := d.Exec(a, "ls", "-A", d.StateDir)
		assert.NotEqual(t, 0, code, "state dir contents visible in the guest")
		assert.Contains(t, errOut, "Permission denied")
		_, _, code = d.Exec(a, "test", "-S", d.Socket)
		assert.NotEqual(t, 0, code, "API socket visible in the guest")
		assert.DirExists(t, d.StateDir) // still there on the host
	})

	t.Run("host paths that leak or act on the host are masked", func(t *testing.T) {
		// Whichever of these the host's kernel has reads as empty inside.
		masked := 0
		for _, f := range []string{"/proc/kcore", "/proc/keys", "/proc/timer_list", "/proc/sched_debug", "/proc/interrupts"} {
			if fileExists(f) {
				masked++
				assert.Equal(t, "0", d.MustExec(a, "sh", "-c", "wc -c < "+f), f)
			}
		}
		require.NotZero(t, masked, "the host has none of the masked files to check")
		assert.Equal(t, "", d.MustExec(a, "ls", "/sys/firmware"))
		// A write to sysrq-trigger acts on the host's kernel; masked, the file is /dev/null (char
		// 1:3) and the write goes nowhere. Where the host has no such file, neither has the guest.
		if fileExists("/proc/sysrq-trigger") {
			assert.Equal(t, "1 3", d.MustExec(a, "stat", "-c", "%t %T", "/proc/sysrq-trigger"), "sysrq-trigger is not masked")
		} else {
			_, _, code := d.Exec(a, "sh", "-c", "echo h > /proc/sysrq-trigger")
			assert.NotEqual(t, 0, code)
		}
		assert.Equal(t, "1", d.MustExec(a, "sh", "-c", "grep NoNewPrivs /proc/self/status | cut -f2"))
	})

	t.Run("cannot unmount its covers to look at the host's", func(t *testing.T) {
		for _, m := range []string{"/proc", "/tmp", "/sys/fs/cgroup", d.StateDir} {
			_, errOut, code := d.Exec(a, "umount", "-l", m)
			assert.NotEqual(t, 0, code, "guest unmounted %s", m)
			assert.Contains(t, errOut, "must be superuser")
		}
		assert.Equal(t, "Seccomp:\t2", d.MustExec(a, "grep", "^Seccomp:", "/proc/self/status"), "no seccomp filter on guest processes")
	})

	t.Run("holds no file descriptor of the init or the daemon", func(t *testing.T) {
		// 0, 1, 2, and the one ls reads /proc/self/fd with.
		assert.Equal(t, "0 1 2 3", strings.Join(strings.Fields(d.MustExec(a, "ls", "/proc/self/fd")), " "), "an exec'd command inherited fds")
		workload := d.MustExec(a, "sh", "-c", "ls /proc/$(pgrep -x sleep)/fd")
		assert.Equal(t, "0 1 2", strings.Join(strings.Fields(workload), " "), "the workload inherited fds")
	})

	t.Run("sees its own cgroup and no other", func(t *testing.T) {
		assert.Equal(t, "0::/", d.MustExec(a, "sh", "-c", "grep '^0::' /proc/self/cgroup"))
		// Its limits are there, and no directory of another group: v1 shows one directory per
		// hierarchy, each the instance's own group; v2 shows the group itself.
		assert.NotEmpty(t, d.MustExec(a, "cat", "/sys/fs/cgroup/"+hostdtest.CgroupFile("pids/pids.max", "pids.max")))
		depth := hostdtest.CgroupFile("2", "1")
		assert.Equal(t, "", d.MustExec(a, "find", "/sys/fs/cgroup", "-mindepth", depth, "-type", "d"))
	})
}

// workloadPid is the host pid of an instance's workload: its init's one child.
func workloadPid(t *testing.T, initPid int) int {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", initPid, initPid))
	require.NoError(t, err)
	pids := strings.Fields(string(data))
	require.NotEmpty(t, pids, "the init has no child")
	pid, err := strconv.Atoi(pids[0])
	require.NoError(t, err)
	return pid
}

// hostBlockDevices lists block device nodes on the host, which must exist for the open test to
// mean anything.
func hostBlockDevices(t *testing.T) []string {
	var devs []string
	entries, err := os.ReadDir("/sys/class/block")
	require.NoError(t, err)
	for _, e := range entries {
		if p := "/dev/" + e.Name(); fileExists(p) {
			devs = append(devs, p)
		}
	}
	require.NotEmpty(t, devs, "the host has no block device to try")
	return devs
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
