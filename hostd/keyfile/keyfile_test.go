package keyfile

import (
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestLoadOrCreate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state", "audit.key")
	key, err := LoadOrCreate(path)
	require.NoError(t, err)
	require.Len(t, key, Size)
	st, err := os.Stat(path)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), st.Mode().Perm())

	again, err := LoadOrCreate(path)
	require.NoError(t, err)
	assert.Equal(t, key, again, "the same key on every start")

	other, err := LoadOrCreate(filepath.Join(filepath.Dir(path), "master.key"))
	require.NoError(t, err)
	assert.NotEqual(t, key, other)

	leftovers, err := filepath.Glob(filepath.Join(filepath.Dir(path), ".*new-*"))
	require.NoError(t, err)
	assert.Empty(t, leftovers)
}

// Starts racing to create the key all end up with the one key that won.
func TestLoadOrCreateRace(t *testing.T) {
	path := filepath.Join(t.TempDir(), "k")
	keys := make([][]byte, 8)
	var wg sync.WaitGroup
	for i := range keys {
		wg.Go(func() {
			k, err := LoadOrCreate(path)
			assert.NoError(t, err)
			keys[i] = k
		})
	}
	wg.Wait()
	for _, k := range keys {
		assert.Equal(t, keys[0], k)
	}
}

func TestLoadOrCreateRefusesUntrustedFiles(t *testing.T) {
	dir := t.TempDir()
	open := filepath.Join(dir, "open.key")
	require.NoError(t, os.WriteFile(open, make([]byte, Size), 0o644))
	require.NoError(t, os.Chmod(open, 0o644))
	_, err := LoadOrCreate(open)
	assert.ErrorContains(t, err, "mode 0600")

	short := filepath.Join(dir, "short.key")
	require.NoError(t, os.WriteFile(short, make([]byte, 5), 0o600))
	_, err = LoadOrCreate(short)
	assert.ErrorContains(t, err, "32-byte key")

	long := filepath.Join(dir, "long.key")
	require.NoError(t, os.WriteFile(long, make([]byte, Size+1), 0o600))
	_, err = LoadOrCreate(long)
	assert.ErrorContains(t, err, "32-byte key")
}
