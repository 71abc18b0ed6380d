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

	"github.com/hostd/hostd/hostd/hostdtest"
	"golang.org/x/sys/unix"
)

func TestLimitsVisibleInside(t *testing.T) {
	d := hostdtest.Start(t)
	id := d.Launch("--memory", "48M", "--pids", "64", "--cpus", "0.5", "--", "sleep", "1000")
	cat := func(v1, v2 string) string {
		return d.MustExec(id, "cat", "/sys/fs/cgroup/"+hostdtest.CgroupFile(v1, v2))
	}
	assert.Equal(t, strconv.Itoa(48<<20), cat("memory/memory.limit_in_bytes", "memory.max"))
	// No swap: v1 caps memory and swap together at the memory limit, v2 caps swap itself at 0.
	assert.Equal(t, hostdtest.CgroupFile(strconv.Itoa(48<<20), "0"), cat("memory/memory.memsw.limit_in_bytes", "memory.swap.max"), "swap allowed")
	assert.Equal(t, "64", cat("pids/pids.max", "pids.max"))
	assert.Equal(t, hostdtest.CgroupFile("50000", "50000 100000"), cat("cpu/cpu.cfs_quota_us", "cpu.max"))
	// The device allowlist: the minimal /dev's character devices and no block device.
	assert.True(t, d.Admits(id, "/dev/null"))
	for _, dev := range hostBlockDevices(t) {
		assert.False(t, d.Admits(id, dev), "the allowlist admits %s", dev)
	}
}

// A memory hog is killed by the cgroup; the same hog under a larger limit survives (the control).
func TestMemoryLimitEnforced(t *testing.T) {
	d := hostdtest.Start(t)
	// `tail -n 1` must hold a whole line, and 64 MiB of zeros is one line: it allocates 64 MiB.
	// wc counts what tail got out: all of it, or nothing if the cgroup killed it.
	hog := []string{"sh", "-c", "head -c 67108864 /dev/zero | tail -n 1 | wc -c"}
	small := d.Launch("--memory", "16M", "--", "sleep", "1000")
	// Guest processes run at 0, the children a command forks at once included; the init at -1000,
	// never the victim. Setting -1000 takes CAP_SYS_RESOURCE, which some sandboxes withhold even
	// from root: there the init keeps the daemon's score and is spared by its size (~1 MiB).
	assert.Equal(t, "0 0", strings.Join(strings.Fields(d.MustExec(small, "sh", "-c", "cat /proc/self/oom_score_adj & wait; cat /proc/$(pgrep -x sleep)/oom_score_adj")), " "))
	initScore, err := os.ReadFile(fmt.Sprintf("/proc/%d/oom_score_adj", describe(t, d, small).Pid))
	require.NoError(t, err)
	if hasCapability(unix.CAP_SYS_RESOURCE) {
		assert.Equal(t, "-1000", strings.TrimSpace(string(initScore)))
		// The floor is 0: a guest cannot make itself the one process the OOM killer spares.
		_, _, code := d.Exec(small, "sh", "-c", "echo -1 > /proc/self/oom_score_adj")
		assert.NotEqual(t, 0, code, "guest lowered its OOM score below 0")
	} else {
		t.Logf("no CAP_SYS_RESOURCE here: the init keeps oom_score_adj %s", strings.TrimSpace(string(initScore)))
	}
	// The cgroup kills the hog (tail; sometimes, in a second pass before tail's memory is reaped,
	// its shell too, which makes the exec end with 137): the pipeline never gets its 64 MiB out.
	// Whichever guest process goes, the instance stays.
	out, _, _ := d.Exec(small, hog...)
	assert.NotContains(t, out, "67108864", "the hog allocated past a 16M limit")
	assert.Equal(t, "running", describe(t, d, small).State, "the OOM killer took the instance's init")
	oomKills := "grep '^oom_kill ' /sys/fs/cgroup/" + hostdtest.CgroupFile("memory/memory.oom_control", "memory.events") + " | cut -d' ' -f2"
	oom := d.MustExec(small, "sh", "-c", oomKills)
	assert.NotEqual(t, "0", oom, "no OOM kill under a 16M limit")

	big := d.Launch("--memory", "512M", "--", "sleep", "1000")
	assert.Equal(t, "67108864", d.MustExec(big, hog...))
	assert.Equal(t, "0", d.MustExec(big, "sh", "-c", oomKills))
}

// A fork bomb stops at --pids; without that limit the same loop starts every process (the control).
func TestPidsLimitEnforced(t *testing.T) {
	d := hostdtest.Start(t)
	// 60 sleepers, detached from the exec's stdout so that the exec returns at once.
	bomb := []string{"sh", "-c", "for i in $(seq 60); do sleep 60 </dev/null >/dev/null 2>&1 & done 2>/dev/null; true"}
	limited := d.Launch("--pids", "20", "--", "sleep", "1000")
	d.Exec(limited, bomb...) // may fail: at the limit, the shell cannot even fork
	current := pidsFile(t, d, limited, "pids.current")
	assert.LessOrEqual(t, current, 20)
	assert.GreaterOrEqual(t, current, 15, "the bomb did not run")
	events, err := os.ReadFile(filepath.Join(d.CgroupDir("pids", limited), "pids.events"))
	require.NoError(t, err)
	assert.NotEqual(t, "max 0", strings.TrimSpace(string(events)), "the limit never refused a fork")

	free := d.Launch("--", "sleep", "1000")
	d.MustExec(free, bomb...)
	assert.GreaterOrEqual(t, pidsFile(t, d, free, "pids.current"), 60)
}

// hasCapability tells whether this process (and so the daemon it starts) holds cap.
func hasCapability(c int) bool {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if unix.Capget(&hdr, &data[0]) != nil {
		return false
	}
	return data[c/32].Effective&(1<<(c%32)) != 0
}

// pidsFile reads a number from an instance's pids cgroup, from the host side.
func pidsFile(t *testing.T, d *hostdtest.Daemon, id, name string) int {
	data, err := os.ReadFile(filepath.Join(d.CgroupDir("pids", id), name))
	require.NoError(t, err)
	n, err := strconv.Atoi(strings.TrimSpace(string(data)))
	require.NoError(t, err)
	return n
}
