package main_test

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hostd/hostd/hostd/api"
	"github.com/hostd/hostd/hostd/guest/seccomp"
	"github.com/hostd/hostd/hostd/hostdtest"
)

// The guest boundary (issue 9): each test runs an attack as root inside a real guest and fails if
// it works, beside a control that shows the attack's mechanism is real.

// plantFakeHostd replaces the guest's /run/hostd/bin/hostd with a script that, run as host root in
// the host's PID namespace, mounts a procfs, reaches the host's root through its parent (the
// daemon, as the issue found it) and writes marker there. /run is the guest's own, so it may
// rename what the init put there.
func plantFakeHostd(t *testing.T, d *hostdtest.Daemon, id, marker string) {
	script := fmt.Sprintf(`#!/bin/sh
mkdir -p /tmp/hostproc && mount -t proc proc /tmp/hostproc && echo pwned > /tmp/hostproc/$PPID/root%s
exit 0
`, marker)
	_, errOut, code := d.RunStdin(script, "instance", "exec", id, "--", "sh", "-c",
		"mv /run/hostd /run/hostd.orig && mkdir -p /run/hostd/bin && cat > /run/hostd/bin/hostd && chmod 755 /run/hostd/bin/hostd")
	require.Equal(t, 0, code, errOut)
}

// Finding 1: volume attach and detach ran the guest's /run/hostd/bin/hostd as host root. Now the
// daemon runs nothing and resolves no path in a guest: the planted program never runs, and the
// volume still attaches and detaches. Control: the planted program run the old way (nsenter into
// the instance's mount namespace, as host root) does write the host file.
func TestVolumeAttachRunsNothingFromTheGuest(t *testing.T) {
	d := hostdtest.Start(t, "--disk-size", "64M")
	marker := filepath.Join(t.TempDir(), "pwned")
	v := createVolume(t, d, "8M")
	a := d.Launch("--", "sleep", "1000")
	plantFakeHostd(t, d, a, marker)

	var att api.VolumeAttachment
	d.JSON(&att, "volume", "attach", v.VolumeId, "--instance", a, "--device", "/dev/xvdb")
	d.MustExec(a, "sh", "-c", "printf "+diskSecret+" | dd of=/dev/xvdb conv=notrunc,fsync 2>/dev/null")
	assert.True(t, volumeHasSecret(t, d, a), "the attached volume does not work")
	d.JSON(&api.ReturnResponse{}, "volume", "detach", v.VolumeId)
	assert.NoFileExists(t, marker, "the daemon ran the guest's program as host root")

	// Control: the old mechanism runs it, with the host's root within reach.
	initPid := describe(t, d, a).Pid
	out, err := exec.Command("nsenter", fmt.Sprintf("--target=%d", initPid), "--mount", "--", "/run/hostd/bin/hostd", "instance-device-helper", "detach", "/dev/xvdb", "0").CombinedOutput()
	require.NoError(t, err, "%s", out)
	assert.FileExists(t, marker, "control: the planted program should have reached the host's root")
}

// Finding 3: guest root reached its PID 1 (ptrace, its memory, its descriptors: console.log,
// exit.json, the control socket). Now the init is host root outside every namespace the guest
// owns, and non-dumpable. Controls: the same probes against a sibling guest process succeed.
func TestInitIsOutOfTheGuestsReach(t *testing.T) {
	d := hostdtest.Start(t)
	a := d.Launch("--", "sleep", "1000")

	for _, attack := range [][]string{
		{"hostd", "probe", "ptrace", "--pid", "1"},
		{"hostd", "probe", "peek", "--pid", "1"},
		{"hostd", "probe", "getfd", "--pid", "1", "--fd", "3"},
		{"head", "-c", "16", "/proc/1/mem"},
		{"ls", "/proc/1/fd"},
		{"cat", "/proc/1/environ"},
		{"kill", "-KILL", "1"},
		{"kill", "-TERM", "1"},
	} {
		_, errOut, code := d.Exec(a, attack...)
		assert.NotEqual(t, 0, code, "%v worked against the init", attack)
		assert.Regexp(t, `not permitted|Permission denied`, errOut, "%v", attack)
	}
	assert.Equal(t, "running", describe(t, d, a).State)

	// Control: guest processes may debug one another (the workload is PID 2).
	d.MustExec(a, "hostd", "probe", "ptrace", "--pid", "2")
	d.MustExec(a, "hostd", "probe", "peek", "--pid", "2")
	d.MustExec(a, "sh", "-c", "exec 3</proc/2/mem")

	// Seen from the host, the init holds no file of the host's: no console log, no status file,
	// nothing under the state dir.
	initPid := describe(t, d, a).Pid
	fds, err := filepath.Glob(fmt.Sprintf("/proc/%d/fd/*", initPid))
	require.NoError(t, err)
	require.NotEmpty(t, fds)
	for _, fd := range fds {
		// Sockets, pipes, namespaces and the like name no path; /dev/null (stdio) and the guest's
		// /dev (where devices are attached) are all the paths it may hold.
		target, _ := os.Readlink(fd)
		if strings.HasPrefix(target, "/") {
			assert.Contains(t, []string{"/dev/null", "/dev"}, target, "the init holds a host file")
		}
	}
}

// Finding 3, the console: a guest wrote without bound to console.log through its init. Now the
// daemon owns the log and caps it; 64 MiB of output (eight times the cap) leaves at most 8 MiB, and its real last
// line.
func TestConsoleLogStaysCapped(t *testing.T) {
	d := hostdtest.Start(t)
	id := d.Launch("--ram", "0", "--", "sh", "-c", "head -c 67108864 /dev/zero | tr '\\0' x; echo; echo last-line; sleep 1000")
	log := filepath.Join(d.StateDir, "instances", id, "console.log")
	deadline := time.Now().Add(90 * time.Second)
	for {
		data, _ := os.ReadFile(log)
		if strings.HasSuffix(string(data), "last-line\n") {
			assert.LessOrEqual(t, len(data), 8<<20+100, "the console log outgrew its cap")
			assert.Contains(t, string(data), "earlier output dropped")
			break
		}
		require.True(t, time.Now().Before(deadline), "the workload's last line never reached the console log (%d bytes)", len(data))
		time.Sleep(100 * time.Millisecond)
	}
}

type syscallResults struct {
	Syscalls []struct {
		Name, Errno      string
		Calls, Succeeded int
	}
}

// Finding 4: keys are charged per uid, not to the instance's memory cgroup, and a guest has
// 65,536 uids. add_key as 5,000 of them is refused every time. (Control: the guest package's
// TestKeyringsWithoutTheFilter, where the same probe succeeds in a guest without the filter.)
func TestKeyringsAreRefused(t *testing.T) {
	d := hostdtest.Start(t)
	a := d.Launch("--", "sleep", "1000")
	var res syscallResults
	require.NoError(t, json.Unmarshal([]byte(d.MustExec(a, "hostd", "probe", "syscall", "--as-uids", "5000", "add_key")), &res))
	require.Len(t, res.Syscalls, 1)
	assert.Equal(t, 5000, res.Syscalls[0].Calls)
	assert.Zero(t, res.Syscalls[0].Succeeded, "add_key got through")
	assert.Equal(t, "EPERM", res.Syscalls[0].Errno)
}

// Finding 5: the profile in a real guest, syscall by syscall: every call it refuses answers
// EPERM (clone3 ENOSYS, so that libcs fall back to clone), and what guests need still works.
// (Control: the guest package's TestSyscallsWithoutTheFilter.)
func TestSeccompProfileSyscallBySyscall(t *testing.T) {
	d := hostdtest.Start(t)
	a := d.Launch("--", "sleep", "1000")
	// uretprobe never reaches a filter: the kernel lets it through seccomp, as it is valid only
	// from a uprobe's trampoline and kills any other caller (SIGILL).
	refused := slices.DeleteFunc(seccomp.Refused(), func(name string) bool { return name == "uretprobe" })
	require.Greater(t, len(refused), 50)
	var res syscallResults
	require.NoError(t, json.Unmarshal([]byte(d.MustExec(a, append([]string{"hostd", "probe", "syscall"}, refused...)...)), &res))
	require.Len(t, res.Syscalls, len(refused))
	for _, r := range res.Syscalls {
		want := "EPERM"
		if r.Name == "clone3" {
			want = "ENOSYS"
		}
		assert.Equal(t, want, r.Errno, "%s", r.Name)
	}
	// What Docker allows goes through: the probe's own Go runtime (threads by clone, signals,
	// futexes), a shell pipeline, mmap, ptrace of a sibling (above), sockets but AF_VSOCK.
	require.NoError(t, json.Unmarshal([]byte(d.MustExec(a, "hostd", "probe", "syscall", "getpid", "gettid", "sched_yield")), &res))
	for _, r := range res.Syscalls {
		assert.Equal(t, "ok", r.Errno, r.Name)
	}
	assert.Equal(t, "3", d.MustExec(a, "sh", "-c", "printf 'a\\nb\\nc\\n' | sort -r | wc -l"))
}

// The same profile lets a program of the guest's own map memory and open the usual sockets, and
// refuses AF_VSOCK. (Apart from the test above: the kernel matrix's VMs have no python3.)
func TestSeccompProfileLetsProgramsRun(t *testing.T) {
	d := hostdtest.Start(t)
	a := d.Launch("--", "sleep", "1000")
	assert.Equal(t, "ok", d.MustExec(a, "python3", "-c", `import mmap,socket; m=mmap.mmap(-1,4096); socket.socket(socket.AF_INET); print("ok")`))
	_, errOut, code := d.Exec(a, "python3", "-c", `import socket; socket.socket(socket.AF_VSOCK, socket.SOCK_STREAM)`)
	assert.NotEqual(t, 0, code)
	assert.Contains(t, errOut, "Operation not permitted")
}

// Finding 6: a guest read other tenants' storage layout (loop devices' backing file, offset,
// size and I/O), the daemon's state dir and RAM pool in its mountinfo, and the kernel's command
// line. Control: the host sees all of it.
func TestGuestSeesNoOtherTenantsStorage(t *testing.T) {
	d := hostdtest.Start(t, "--disk-size", "64M")
	va, vb := createVolume(t, d, "8M"), createVolume(t, d, "8M")
	a := d.Launch("--volume", va.VolumeId+":/dev/xvdb", "--", "sleep", "1000")
	d.Launch("--volume", vb.VolumeId+":/dev/xvdb", "--", "sleep", "1000")
	store := filepath.Join(d.StateDir, "disk.img")

	leaks := d.MustExec(a, "sh", "-c", "cat /sys/block/loop*/loop/backing_file /sys/block/loop*/loop/offset "+
		"/sys/block/loop*/loop/sizelimit /sys/block/loop*/stat /sys/class/block/loop*/loop/backing_file "+
		"/sys/devices/virtual/block/loop*/loop/backing_file /sys/dev/block/7:*/loop/backing_file "+
		"/proc/cmdline /proc/partitions /proc/diskstats 2>/dev/null; true")
	assert.Empty(t, leaks, "the guest read the host's block devices or command line")
	mountinfo := d.MustExec(a, "cat", "/proc/self/mountinfo")
	for _, secret := range []string{d.StateDir, filepath.Join(d.StateDir, "ram"), store} {
		assert.NotContains(t, mountinfo, secret)
	}
	_, errOut, code := d.Exec(a, "ls", d.StateDir)
	assert.NotEqual(t, 0, code)
	assert.Contains(t, errOut, "Permission denied")

	// Control: the host sees the tenants' extents, its command line and the daemon's mounts.
	var backing []string
	files, _ := filepath.Glob("/sys/block/loop*/loop/backing_file")
	for _, f := range files {
		data, _ := os.ReadFile(f)
		if strings.TrimSpace(string(data)) == store {
			backing = append(backing, f)
		}
	}
	assert.Len(t, backing, 2, "control: the host should see both tenants' loop devices")
	cmdline, _ := os.ReadFile("/proc/cmdline")
	assert.NotEmpty(t, cmdline)
	hostMounts, _ := os.ReadFile("/proc/self/mountinfo")
	assert.Contains(t, string(hostMounts), filepath.Join(d.StateDir, "ram"))
	// And the state dir's mode is what keeps guests out of it: opened up, it is listed.
	require.NoError(t, os.Chmod(d.StateDir, 0o755))
	defer os.Chmod(d.StateDir, 0o700)
	assert.Contains(t, d.MustExec(a, "ls", d.StateDir), "hostd.db", "control: an open state dir should be listed")
}
