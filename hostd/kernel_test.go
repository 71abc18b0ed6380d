package main_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hostd/hostd/hostd/hostdtest"
)

// Where the host lacks a cgroup controller that confines instances, serve refuses to start, says
// which and why, and makes nothing; it never runs guests unconfined. The controller is taken away
// in a mount namespace of the test's own (the host's mounts are not touched): on v1 the devices
// hierarchy is unmounted, on v2 the root's list of controllers loses pids. The control runs the
// same command with the controller left in place, and the daemon starts.
func TestServeRefusesWithoutAController(t *testing.T) {
	hostdtest.RequireRoot(t)
	bin := hostdtest.Binary(t)
	dir, err := os.MkdirTemp("/var/tmp", "hostd-refuse-")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	take, missing := "umount -l /sys/fs/cgroup/devices", "no devices hierarchy"
	if hostdtest.CgroupV2() {
		controllers, err := os.ReadFile("/sys/fs/cgroup/cgroup.controllers")
		require.NoError(t, err)
		fake := filepath.Join(dir, "controllers")
		require.NoError(t, os.WriteFile(fake, []byte(strings.Replace(string(controllers), "pids", "", 1)), 0o644))
		take, missing = "mount --bind "+fake+" /sys/fs/cgroup/cgroup.controllers", "the pids controller is not available"
	}
	serve := func(take, state string) *exec.Cmd {
		return exec.Command("unshare", "--mount", "--propagation", "private", "sh", "-c",
			take+` && exec "$0" serve --state-dir "$1" --socket "$2" --fabric "$3"`,
			bin, filepath.Join(dir, state), filepath.Join(dir, state+".sock"), "refuse"+state)
	}

	out, err := serve(take, "refused").CombinedOutput()
	require.Error(t, err, "serve started without the controller: %s", out)
	assert.Contains(t, string(out), missing)
	assert.NoDirExists(t, filepath.Join(dir, "refused"), "a refused start made its state dir")
	assert.NoFileExists(t, "/run/netns/hostd-refuserefused", "a refused start made its fabric")

	// The control: the same command, nothing taken away.
	control := serve("true", "control")
	var log strings.Builder
	control.Stdout, control.Stderr = &log, &log
	require.NoError(t, control.Start())
	started := false
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline) && !started; time.Sleep(50 * time.Millisecond) {
		_, err := os.Stat(filepath.Join(dir, "control.sock"))
		started = err == nil
	}
	_ = control.Process.Signal(os.Interrupt)
	_ = control.Wait()
	teardown := exec.Command(bin, "teardown", "--state-dir", filepath.Join(dir, "control"), "--socket", filepath.Join(dir, "control.sock"), "--fabric", "refusecontrol")
	out, err = teardown.CombinedOutput()
	assert.NoError(t, err, "%s", out)
	require.True(t, started, "the control did not start: %s", log.String())
	assert.Contains(t, log.String(), "msg=kernel")
}
