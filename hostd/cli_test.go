package main_test

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hostd/hostd/hostd/hostdtest"
)

// assertSizeError checks a refused SIZE: status 1, InvalidParameterValue, and a message that
// names the flag and the forms a SIZE takes.
func assertSizeError(t *testing.T, flag, stderr string, status int) {
	t.Helper()
	assert.Equal(t, 1, status, "stderr: %s", stderr)
	code, msg := hostdtest.ErrorOf(t, strings.TrimSpace(stderr))
	assert.Equal(t, "InvalidParameterValue", code)
	assert.Contains(t, msg, flag+` "banana"`)
	for _, form := range []string{"512M", "512MiB", "1G", "1GiB", "bytes"} {
		assert.Contains(t, msg, form)
	}
}

// Every SIZE flag, of the client and of the daemon, names itself and the accepted forms.
func TestSizeFlagsNameTheFlag(t *testing.T) {
	d := hostdtest.Start(t)
	for _, c := range []struct {
		flag string
		args []string
	}{
		{"--memory", []string{"instance", "run", "--memory", "banana", "--", "true"}},
		{"--ram", []string{"instance", "run", "--ram", "banana", "--", "true"}},
		{"--size", []string{"volume", "create", "--size", "banana"}},
	} {
		out, errOut, status := d.Run(c.args...)
		assert.Empty(t, out)
		assertSizeError(t, c.flag, errOut, status)
	}
	for _, flag := range []string{"--ram-pool", "--scrub-rate", "--disk-size"} {
		dir := t.TempDir()
		cmd := exec.Command(d.Bin, "serve", "--state-dir", filepath.Join(dir, "state"), "--socket", filepath.Join(dir, "s.sock"), flag, "banana")
		var stderr strings.Builder
		cmd.Stderr = &stderr
		require.Error(t, cmd.Run())
		assertSizeError(t, flag, stderr.String(), cmd.ProcessState.ExitCode())
	}
}
