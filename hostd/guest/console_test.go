package guest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The log keeps the latest output under its cap, starts over with a marker when it would pass it,
// and a second copier (a restarted daemon) appends where the first stopped.
func TestCopyConsoleCapsAndResumes(t *testing.T) {
	path := filepath.Join(t.TempDir(), "console.log")
	copyFrom := func(text string, limit int64) {
		r, w, err := os.Pipe()
		require.NoError(t, err)
		go func() { _, _ = w.WriteString(text); w.Close() }()
		dst, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY, 0o600)
		require.NoError(t, err)
		st, _ := dst.Stat()
		require.NoError(t, copyCapped(dst, r, limit, st.Size()))
		dst.Close()
		r.Close()
	}
	copyFrom("first daemon\n", 1<<20)
	copyFrom("second daemon\n", 1<<20)
	data, _ := os.ReadFile(path)
	assert.Equal(t, "first daemon\nsecond daemon\n", string(data))

	copyFrom(strings.Repeat("x", 3000)+"last\n", 1000)
	data, _ = os.ReadFile(path)
	assert.LessOrEqual(t, len(data), 1000)
	assert.True(t, strings.HasPrefix(string(data), "[hostd: console log passed 1000 bytes; earlier output dropped]\n"), "%q", data)
	assert.True(t, strings.HasSuffix(string(data), "last\n"), "%q", data)

	// A log already at its cap when a daemon resumes it starts over rather than stop.
	require.NoError(t, os.WriteFile(path, []byte(strings.Repeat("y", 1000)), 0o600))
	copyFrom("after\n", 1000)
	data, _ = os.ReadFile(path)
	assert.True(t, strings.HasSuffix(string(data), "dropped]\nafter\n"), "%q", data)
}
