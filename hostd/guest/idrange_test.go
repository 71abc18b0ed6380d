package guest

import (
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestIDRangesAreDistinctAcrossOwners(t *testing.T) {
	dir := t.TempDir()
	a := &IDAllocator{Dir: dir, Owner: "/state/a"}
	b := &IDAllocator{Dir: dir, Owner: "/state/b"}
	seen := map[uint32]bool{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i := range 40 {
		alloc := a
		if i%2 == 1 {
			alloc = b
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			slot, err := alloc.Allocate("i-x")
			require.NoError(t, err)
			r := alloc.Range(slot)
			mu.Lock()
			defer mu.Unlock()
			assert.False(t, seen[r.HostID], "range %d handed out twice", r.HostID)
			seen[r.HostID] = true
			assert.GreaterOrEqual(t, r.HostID, uint32(1<<30), "range overlaps real accounts")
			assert.Equal(t, uint32(65536), r.Size)
		}()
	}
	wg.Wait()
	heldA, err := a.Held()
	require.NoError(t, err)
	assert.Len(t, heldA, 20)
}

func TestReleaseOnlyOwnRange(t *testing.T) {
	dir := t.TempDir()
	a := &IDAllocator{Dir: dir, Owner: "/state/a"}
	b := &IDAllocator{Dir: dir, Owner: "/state/b"}
	slot, err := a.Allocate("i-1")
	require.NoError(t, err)
	b.Release(slot)
	held, _ := a.Held()
	assert.Equal(t, map[int]string{slot: "i-1"}, held, "another owner released our range")
	a.Release(slot)
	held, _ = a.Held()
	assert.Empty(t, held)
	again, err := b.Allocate("i-2")
	require.NoError(t, err)
	assert.Equal(t, slot, again, "a released range is reused")
}

func TestStartTimeOfSelf(t *testing.T) {
	st, err := StartTime(1)
	require.NoError(t, err)
	st2, err := StartTime(1)
	require.NoError(t, err)
	assert.Equal(t, st, st2)
	_, err = StartTime(1 << 30)
	assert.Error(t, err)
}
