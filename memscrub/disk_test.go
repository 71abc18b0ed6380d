package memscrub

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hostd/hostd/hostd/hostdtest"
)

type extentJournal struct {
	mu   sync.Mutex
	recs map[string]ExtentRecord
}

func (j *extentJournal) SaveExtent(r *ExtentRecord) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.recs[r.ID] = *r
	return nil
}

func (j *extentJournal) DeleteExtent(id string) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	delete(j.recs, id)
	return nil
}

func (j *extentJournal) saved() []*ExtentRecord {
	var out []*ExtentRecord
	for _, r := range j.recs {
		out = append(out, &r)
	}
	return out
}

func newStore(t *testing.T, path string, scrub bool, mode WipeMode, j *extentJournal) *DiskStore {
	s, err := OpenDiskStore(DiskConfig{Path: path, Size: 64 << 20, Scrub: scrub, Wipe: mode, Journal: j, Log: slog.New(slog.DiscardHandler)}, j.saved())
	require.NoError(t, err)
	return s
}

func readExtent(t *testing.T, path string, e Extent) []byte {
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	b := make([]byte, e.Size)
	_, err = f.ReadAt(b, e.Offset)
	require.NoError(t, err)
	return b
}

func writeExtent(t *testing.T, path string, e Extent, b byte) {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	require.NoError(t, err)
	defer f.Close()
	_, err = f.WriteAt(bytes.Repeat([]byte{b}, int(e.Size)), e.Offset)
	require.NoError(t, err)
}

func TestExtentsFirstFitAndMergeFreeNeighbours(t *testing.T) {
	s := newStore(t, filepath.Join(t.TempDir(), "disk.img"), true, WipeFast, &extentJournal{recs: map[string]ExtentRecord{}})
	a, _ := s.Create("vol-a", 8<<20)
	b, _ := s.Create("vol-b", 8<<20)
	c, _ := s.Create("vol-c", 8<<20)
	assert.Equal(t, []int64{0, 8 << 20, 16 << 20}, []int64{a.Offset, b.Offset, c.Offset})
	require.NoError(t, s.Delete("vol-a"))
	require.NoError(t, s.Delete("vol-b"))
	// The two freed neighbours are one 16 MiB run now.
	d, err := s.Create("vol-d", 16<<20)
	require.NoError(t, err)
	assert.Equal(t, int64(0), d.Offset)
	_, err = s.Create("vol-e", 48<<20)
	assert.ErrorIs(t, err, ErrNoSpace)
	_, err = s.Create("vol-f", 1000)
	assert.Error(t, err)
	st := s.Stats()
	assert.Equal(t, int64(64<<20), st.TotalBytes)
	assert.Equal(t, int64(24<<20), st.AllocatedBytes)
	assert.Equal(t, int64(16<<20), st.WipedBytes)
}

func TestDeletedExtentIsWipedBeforeReuse(t *testing.T) {
	for _, mode := range []WipeMode{WipeFast, WipeOverwrite} {
		t.Run(string(mode), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "disk.img")
			s := newStore(t, path, true, mode, &extentJournal{recs: map[string]ExtentRecord{}})
			a, _ := s.Create("vol-a", 4<<20)
			writeExtent(t, path, a.Extent, 0xa5)
			require.NoError(t, s.Delete("vol-a"))
			b, _ := s.Create("vol-b", 4<<20)
			require.Equal(t, a.Offset, b.Offset)
			assert.Equal(t, 0, bytes.Count(readExtent(t, path, b.Extent), []byte{0xa5}), "the next volume read the last one's data")
		})
	}
}

// The negative control: with scrubbing off the next volume reads the last one's bytes.
func TestDeletedExtentKeepsDataWithScrubbingOff(t *testing.T) {
	path := filepath.Join(t.TempDir(), "disk.img")
	s := newStore(t, path, false, WipeFast, &extentJournal{recs: map[string]ExtentRecord{}})
	a, _ := s.Create("vol-a", 4<<20)
	writeExtent(t, path, a.Extent, 0xa5)
	require.NoError(t, s.Delete("vol-a"))
	assert.Equal(t, int64(4<<20), s.Stats().DirtyBytes)
	b, _ := s.Create("vol-b", 4<<20)
	require.Equal(t, a.Offset, b.Offset)
	assert.Equal(t, int(b.Size), bytes.Count(readExtent(t, path, b.Extent), []byte{0xa5}))
}

// A daemon that died in the middle of a wipe finishes it before anything is allocated.
func TestInterruptedWipeIsFinishedAtOpen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "disk.img")
	j := &extentJournal{recs: map[string]ExtentRecord{}}
	s := newStore(t, path, true, WipeFast, j)
	a, _ := s.Create("vol-a", 4<<20)
	writeExtent(t, path, a.Extent, 0xa5)
	rec := *a
	rec.State = Wiping
	require.NoError(t, j.SaveExtent(&rec))

	s = newStore(t, path, true, WipeFast, j)
	assert.NotContains(t, j.recs, "vol-a")
	// The state keeps the proof: free space, wiped, when, how, and whose it was.
	proof := j.recs["free-0"]
	assert.Equal(t, Wiped, proof.State)
	assert.Equal(t, "vol-a", proof.LastVolume)
	assert.Equal(t, WipeFast, proof.WipeMode)
	assert.False(t, proof.WipedAt.IsZero())
	b, _ := s.Create("vol-b", 4<<20)
	assert.Equal(t, 0, bytes.Count(readExtent(t, path, b.Extent), []byte{0xa5}))
}

func TestLoopDeviceShowsOneExtent(t *testing.T) {
	hostdtest.RequireRoot(t)
	path := filepath.Join(t.TempDir(), "disk.img")
	s := newStore(t, path, true, WipeFast, &extentJournal{recs: map[string]ExtentRecord{}})
	_, _ = s.Create("vol-a", 4<<20)
	b, _ := s.Create("vol-b", 4<<20)
	writeExtent(t, path, b.Extent, 0x42)
	loop, err := AttachLoop(path, b.Extent)
	require.NoError(t, err)
	defer func() { assert.NoError(t, loop.Detach()) }()
	assert.Equal(t, uint32(7), loop.Major)
	data, err := os.ReadFile(loop.Path)
	require.NoError(t, err)
	assert.Len(t, data, 4<<20, "the device is exactly the extent")
	assert.Equal(t, len(data), bytes.Count(data, []byte{0x42}))
}

// A loop device still held open elsewhere (here by this test, as a guest's descriptor parked in a
// unix socket would hold it) is not unbound by LOOP_CLR_FD: Detach says so instead of pretending,
// and the kernel unbinds it at the last close. Keep cancels that pending unbind. The control: with
// no holder, Detach unbinds at once.
func TestDetachOfAHeldLoopDeviceSaysSo(t *testing.T) {
	hostdtest.RequireRoot(t)
	path := filepath.Join(t.TempDir(), "disk.img")
	s := newStore(t, path, true, WipeFast, &extentJournal{recs: map[string]ExtentRecord{}})
	a, _ := s.Create("vol-a", 4<<20)

	loop, err := AttachLoop(path, a.Extent)
	require.NoError(t, err)
	require.NoError(t, loop.Detach(), "control: a loop device nobody holds unbinds at once")
	bound, err := loop.Bound()
	require.NoError(t, err)
	assert.False(t, bound)

	loop, err = AttachLoop(path, a.Extent)
	require.NoError(t, err)
	holder, err := os.Open(loop.Path)
	require.NoError(t, err)
	assert.ErrorIs(t, loop.Detach(), ErrStillBound)
	bound, _ = loop.Bound()
	assert.True(t, bound, "a held device was reported unbound")
	require.NoError(t, loop.Keep())
	holder.Close()
	bound, _ = loop.Bound()
	assert.True(t, bound, "Keep did not cancel the pending unbind")

	holder, err = os.Open(loop.Path)
	require.NoError(t, err)
	assert.ErrorIs(t, loop.Detach(), ErrStillBound)
	holder.Close() // the last close unbinds it
	require.Eventually(t, func() bool { b, _ := loop.Bound(); return !b }, 2*time.Second, 10*time.Millisecond)
	assert.NoError(t, loop.Detach(), "an unbound device detaches")
}
