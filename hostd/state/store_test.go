package state

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hostd/hostd/hostd/api"
)

func TestStoreKeepsRecordsAcrossReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "hostd.db")
	s, err := Open(path)
	require.NoError(t, err)
	code := 3
	older := &Instance{ID: "i-1", Phase: Stopped, Command: []string{"true"}, LaunchTime: time.Unix(100, 0).UTC(), ExitCode: &code,
		Limits: api.Limits{MemoryBytes: 1 << 20, Pids: 9}}
	newer := &Instance{ID: "i-0", Phase: Running, Pid: 42, PidStart: 7, LaunchTime: time.Unix(200, 0).UTC()}
	require.NoError(t, s.PutInstance(newer))
	require.NoError(t, s.PutInstance(older))

	// A second open of the same file is refused while the first holds it.
	_, err = Open(path)
	require.ErrorContains(t, err, "another hostd")
	require.NoError(t, s.Close())

	s, err = Open(path)
	require.NoError(t, err)
	defer s.Close()
	recs, err := s.Instances()
	require.NoError(t, err)
	assert.Equal(t, []*Instance{older, newer}, recs, "records come back whole, oldest launch first")
	require.NoError(t, s.DeleteInstance("i-1"))
	require.NoError(t, s.DeleteInstance("i-missing"))
	recs, _ = s.Instances()
	assert.Len(t, recs, 1)
}
