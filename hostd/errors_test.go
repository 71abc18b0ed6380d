package main_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hostd/hostd/hostd/hostdtest"
)

// Bad input gets an EC2-style error on stderr, status 1 (2 for a malformed command line), and
// changes nothing: the same instances, cgroups and files afterwards.
func TestBadInputChangesNothing(t *testing.T) {
	d := hostdtest.Start(t)
	id := d.Launch("--", "sleep", "1000")
	stopped := d.Launch("--", "true")
	waitState(t, d, stopped, "stopped")

	cases := []struct {
		name   string
		args   []string
		status int
		code   string
	}{
		{"describe unknown id", []string{"instance", "describe", "i-0123456789abcdef0"}, 1, "InvalidInstanceID.NotFound"},
		{"describe malformed id", []string{"instance", "describe", "vm-12"}, 1, "InvalidInstanceID.Malformed"},
		{"terminate unknown id with a known one", []string{"instance", "terminate", id, "i-0123456789abcdef0"}, 1, "InvalidInstanceID.NotFound"},
		{"exec unknown id", []string{"instance", "exec", "i-0123456789abcdef0", "--", "true"}, 1, "InvalidInstanceID.NotFound"},
		{"exec in a stopped instance", []string{"instance", "exec", stopped, "--", "true"}, 1, "IncorrectInstanceState"},
		{"exec without a command", []string{"instance", "exec", id, "--"}, 1, "MissingParameter"},
		{"run without a command", []string{"instance", "run"}, 1, "MissingParameter"},
		{"run with an unreadable size", []string{"instance", "run", "--memory", "12Q", "--", "true"}, 1, "InvalidParameterValue"},
		{"run with a negative size", []string{"instance", "run", "--memory", "-5M", "--", "true"}, 1, "InvalidParameterValue"},
		{"run with too little memory", []string{"instance", "run", "--memory", "1M", "--", "true"}, 1, "InvalidParameterValue"},
		{"run with more memory than the host", []string{"instance", "run", "--memory", "64T", "--", "true"}, 1, "InvalidParameterValue"},
		{"run with too many cpus", []string{"instance", "run", "--cpus", "999", "--", "true"}, 1, "InvalidParameterValue"},
		{"run with negative cpus", []string{"instance", "run", "--cpus", "-1", "--", "true"}, 1, "InvalidParameterValue"},
		{"run with cpus not a number", []string{"instance", "run", "--cpus", "two", "--", "true"}, 1, "InvalidParameterValue"},
		{"run with too few pids", []string{"instance", "run", "--pids", "3", "--", "true"}, 1, "InvalidParameterValue"},
		{"run with too many pids", []string{"instance", "run", "--pids", "99999999", "--", "true"}, 1, "InvalidParameterValue"},
		{"run a command the instance lacks", []string{"instance", "run", "--", "/no/such/binary"}, 1, "InvalidParameterValue"},
		{"unknown flag", []string{"instance", "run", "--colour", "red", "--", "true"}, 2, "InvalidUsage"},
		{"unknown verb", []string{"instance", "reboot", id}, 2, "InvalidUsage"},
		{"unknown resource", []string{"volcano", "create"}, 2, "InvalidUsage"},
		{"bad output format", []string{"-o", "yaml", "instance", "describe"}, 2, "InvalidUsage"},
		{"terminate nothing", []string{"instance", "terminate"}, 2, "InvalidUsage"},
	}
	before := snapshot(t, d)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out, errOut, status := d.Run(c.args...)
			assert.Equal(t, c.status, status, "stderr: %s", errOut)
			assert.Empty(t, out)
			code, msg := hostdtest.ErrorOf(t, strings.TrimSpace(errOut))
			assert.Equal(t, c.code, code)
			assert.NotEmpty(t, msg)
			assert.Equal(t, before, snapshot(t, d), "the failed command changed something")
		})
	}
	assert.Equal(t, "running", describe(t, d, id).State)
}

// snapshot is everything a failed command must leave as it was: the instances as described, the
// daemon's cgroups and its instance files.
func snapshot(t *testing.T, d *hostdtest.Daemon) string {
	out, _, code := d.Run("instance", "describe")
	require.Equal(t, 0, code)
	cgroups, _ := filepath.Glob(filepath.Join("/sys/fs/cgroup/memory/hostd", d.Fabric, "i-*"))
	files, _ := filepath.Glob(filepath.Join(d.StateDir, "instances", "*"))
	return out + strings.Join(cgroups, "\n") + strings.Join(files, "\n")
}

func TestNoDaemon(t *testing.T) {
	hostdtest.RequireRoot(t)
	cmd := exec.Command(hostdtest.Binary(t), "--socket", filepath.Join(t.TempDir(), "none.sock"), "instance", "describe")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	err := cmd.Run()
	require.Error(t, err)
	assert.Equal(t, 1, cmd.ProcessState.ExitCode())
	code, msg := hostdtest.ErrorOf(t, stderr.String())
	assert.Equal(t, "DaemonUnavailable", code)
	assert.Contains(t, msg, "hostd serve")
}

func TestSocketIsPrivate(t *testing.T) {
	d := hostdtest.Start(t)
	st, err := os.Stat(d.Socket)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), st.Mode().Perm())
}

// A second daemon on the same state dir is refused, and the first goes on.
func TestSecondDaemonOnSameStateDirRefused(t *testing.T) {
	d := hostdtest.Start(t)
	cmd := exec.Command(d.Bin, "serve", "--state-dir", d.StateDir, "--socket", d.Socket+"2", "--fabric", d.Fabric)
	out, err := cmd.CombinedOutput()
	require.Error(t, err)
	assert.Contains(t, string(out), "another hostd is using this --state-dir")
	d.Launch("--", "true")
}
