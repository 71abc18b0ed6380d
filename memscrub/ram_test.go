package memscrub

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// memJournal keeps records in memory, as the daemon's state file would.
type memJournal struct {
	mu   sync.Mutex
	recs map[string]Region
}

func (j *memJournal) SaveRegion(r *Region) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.recs[r.ID] = *r
	return nil
}

func (j *memJournal) DeleteRegion(id string) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	delete(j.recs, id)
	return nil
}

func (j *memJournal) saved() []*Region {
	j.mu.Lock()
	defer j.mu.Unlock()
	var out []*Region
	for _, r := range j.recs {
		out = append(out, &r)
	}
	return out
}

func newPool(t *testing.T, dir string, total int64, scrub bool, j *memJournal, live map[string]bool) *RAMPool {
	t.Helper()
	p, err := OpenRAMPool(RAMConfig{Dir: dir, TotalBytes: total, Scrub: scrub, Workers: 2, Journal: j, Log: slog.New(slog.DiscardHandler)}, j.saved(), live)
	require.NoError(t, err)
	t.Cleanup(p.Close)
	return p
}

func waitNoDirty(t *testing.T, p *RAMPool) {
	deadline := time.Now().Add(5 * time.Second)
	for p.Stats().DirtyBytes > 0 {
		require.True(t, time.Now().Before(deadline), "the scrubbers never finished")
		time.Sleep(5 * time.Millisecond)
	}
}

func fill(t *testing.T, path string, b byte) {
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(path, bytes.Repeat([]byte{b}, len(data)), 0))
}

func isZero(t *testing.T, path string) bool {
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	return bytes.Count(data, []byte{0}) == len(data)
}

func TestReleasedRegionIsZeroedBeforeReuse(t *testing.T) {
	p := newPool(t, t.TempDir(), 8<<20, true, &memJournal{recs: map[string]Region{}}, nil)
	a, err := p.Allocate("i-a", 1<<20)
	require.NoError(t, err)
	assert.True(t, isZero(t, p.Path(a.ID)), "a fresh region holds data")
	fill(t, p.Path(a.ID), 0xa5)
	p.Release(a.ID, "i-a")
	waitNoDirty(t, p) // else the pool would rather take fresh memory than wait
	b, err := p.Allocate("i-b", 1<<20)
	require.NoError(t, err)
	assert.Equal(t, a.ID, b.ID, "the test needs the same region back")
	assert.True(t, isZero(t, p.Path(b.ID)), "tenant B got tenant A's bytes")
	assert.GreaterOrEqual(t, p.Stats().ScrubbedBytes, int64(1<<20))
	assert.Equal(t, 2, b.Uses)
}

// The negative control: with scrubbing off the next tenant reads the last one's bytes.
func TestScrubOffHandsBackTheContents(t *testing.T) {
	p := newPool(t, t.TempDir(), 8<<20, false, &memJournal{recs: map[string]Region{}}, nil)
	a, err := p.Allocate("i-a", 1<<20)
	require.NoError(t, err)
	fill(t, p.Path(a.ID), 0xa5)
	p.Release(a.ID, "i-a")
	b, err := p.Allocate("i-b", 1<<20)
	require.NoError(t, err)
	require.Equal(t, a.ID, b.ID)
	data, err := os.ReadFile(p.Path(b.ID))
	require.NoError(t, err)
	assert.Equal(t, byte(0xa5), data[12345], "control: without scrubbing the bytes should survive")
	assert.False(t, b.Scrubbed)
}

// Many tenants at once: a region is never held twice, and never handed out with data in it.
func TestConcurrentTenantsNeverShareOrSeeData(t *testing.T) {
	p := newPool(t, t.TempDir(), 2<<20, true, &memJournal{recs: map[string]Region{}}, nil)
	var holders sync.Map
	var wg sync.WaitGroup
	var mu sync.Mutex
	var errs []error
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 40 {
				owner := fmt.Sprintf("i-%d-%d", g, i)
				size := int64(64<<10) << rand.IntN(2)
				r, err := p.Allocate(owner, size)
				if errors.Is(err, ErrInsufficientCapacity) {
					time.Sleep(time.Millisecond)
					continue
				}
				if err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
					return
				}
				if prev, loaded := holders.LoadOrStore(r.ID, owner); loaded {
					mu.Lock()
					errs = append(errs, fmt.Errorf("%s handed to %s while %v held it", r.ID, owner, prev))
					mu.Unlock()
				}
				data, _ := os.ReadFile(p.Path(r.ID))
				if bytes.Count(data, []byte{0}) != len(data) {
					mu.Lock()
					errs = append(errs, fmt.Errorf("%s handed to %s with data in it", r.ID, owner))
					mu.Unlock()
				}
				_ = os.WriteFile(p.Path(r.ID), bytes.Repeat([]byte{byte(g + 1)}, len(data)), 0)
				holders.Delete(r.ID)
				p.Release(r.ID, owner)
			}
		}()
	}
	wg.Wait()
	assert.Empty(t, errs)
	s := p.Stats()
	assert.LessOrEqual(t, s.InUseBytes+s.CleanBytes+s.DirtyBytes, s.TotalBytes)
	assert.Zero(t, s.InUseBytes)
}

func TestCapacityIsEnforced(t *testing.T) {
	p := newPool(t, t.TempDir(), 1<<20, true, &memJournal{recs: map[string]Region{}}, nil)
	a, err := p.Allocate("i-a", 1<<20)
	require.NoError(t, err)
	_, err = p.Allocate("i-b", 4096)
	assert.ErrorIs(t, err, ErrInsufficientCapacity)
	fill(t, p.Path(a.ID), 0x5a)
	p.Release(a.ID, "i-a")
	// A different size: the old region's memory goes back to the kernel, fresh memory comes out.
	c, err := p.Allocate("i-c", 512<<10)
	require.NoError(t, err)
	assert.True(t, isZero(t, p.Path(c.ID)))
	assert.Equal(t, int64(512<<10), p.Stats().InUseBytes)
}

// A restarted daemon trusts nothing it cannot prove: a region released but not recorded as
// scrubbed, or held by an instance that is gone, is dirty.
func TestRestartTreatsUnprovenRegionsAsDirty(t *testing.T) {
	dir := t.TempDir()
	j := &memJournal{recs: map[string]Region{}}
	for id, r := range map[string]Region{
		"ram-0": {Size: 1 << 20, State: Clean, Scrubbed: false},  // released with scrubbing off
		"ram-1": {Size: 1 << 20, State: Scrubbing},               // the daemon died mid-scrub
		"ram-2": {Size: 1 << 20, State: InUse, Owner: "i-gone"},  // its instance died too
		"ram-3": {Size: 1 << 20, State: InUse, Owner: "i-alive"}, // still running
	} {
		r.ID = id
		require.NoError(t, createRegion(dir+"/"+id, r.Size))
		fill(t, dir+"/"+id, 0x77)
		require.NoError(t, j.SaveRegion(&r))
	}
	require.NoError(t, os.WriteFile(dir+"/ram-9", []byte("stray"), 0o600))
	p := newPool(t, dir, 4<<20, true, j, map[string]bool{"i-alive": true})
	assert.NoFileExists(t, dir+"/ram-9", "a file with no record survived")
	for range 3 {
		r, err := p.Allocate("i-new", 1<<20)
		require.NoError(t, err)
		assert.NotEqual(t, "ram-3", r.ID, "the live instance's region was handed out")
		assert.True(t, isZero(t, p.Path(r.ID)), "%s handed out unscrubbed after a restart", r.ID)
	}
	assert.False(t, isZero(t, dir+"/ram-3"), "the live instance's memory was touched")
}

func TestScrubRateIsCapped(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, createRegion(dir+"/r", 8<<20))
	start := time.Now()
	require.NoError(t, ScrubRegion(dir+"/r", 8<<20, 32<<20)) // 8 MiB at 32 MiB/s: about 250 ms
	assert.Greater(t, time.Since(start), 150*time.Millisecond)
}

// The reserve: clean regions of the reserve size are made in the background while the pool has
// room for them, topped up as launches take them, and never crowd out the pool.
func TestReserveIsKeptReady(t *testing.T) {
	j := &memJournal{recs: map[string]Region{}}
	p, err := OpenRAMPool(RAMConfig{Dir: t.TempDir(), TotalBytes: 10 << 20, Scrub: true, Workers: 1,
		Journal: j, Log: slog.New(slog.DiscardHandler)}, nil, nil)
	require.NoError(t, err)
	t.Cleanup(p.Close)
	p.Reserve(2, 4<<20)
	require.Eventually(t, func() bool { return p.Stats().CleanBytes == 8<<20 }, 5*time.Second, 5*time.Millisecond)

	a, err := p.Allocate("i-a", 4<<20)
	require.NoError(t, err)
	assert.True(t, isZero(t, p.Path(a.ID)))
	// Topped up again: 4 in use and 4 clean leave no room for a second reserve region of 4.
	require.Eventually(t, func() bool { return p.Stats().CleanBytes == 4<<20 }, 5*time.Second, 5*time.Millisecond)
	time.Sleep(50 * time.Millisecond)
	assert.Equal(t, int64(4<<20), p.Stats().CleanBytes, "the reserve outgrew the pool")
	// A region of another size still fits: clean reserve regions give way.
	_, err = p.Allocate("i-b", 6<<20)
	require.NoError(t, err)
}

// A reserve the pool's memory cannot hold (a tmpfs smaller than the pool, left by an earlier
// daemon) is given up after one try, and closing the pool ends its workers.
func TestReserveThatCannotBeMadeIsGivenUp(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, MountPoolDir(dir, 2<<20))
	t.Cleanup(func() { _ = UnmountPoolDir(dir) })
	p, err := OpenRAMPool(RAMConfig{Dir: dir, TotalBytes: 64 << 20, Scrub: true, Workers: 2,
		Journal: &memJournal{recs: map[string]Region{}}, Log: slog.New(slog.DiscardHandler)}, nil, nil)
	require.NoError(t, err)
	p.Reserve(4, 16<<20)
	time.Sleep(100 * time.Millisecond)
	assert.Zero(t, p.Stats().CleanBytes)
	done := make(chan struct{})
	go func() { p.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("the pool's workers did not stop")
	}
}
