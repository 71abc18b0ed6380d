package memscrub

import (
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"
)

// The disk half of the package: one backing store (a sparse file or a block device) carved into
// extents, one per volume. A deleted volume's extent is wiped before it can be allocated again;
// with scrubbing off it is not, and is recorded dirty, so that the next tenant's reuse is loud.

// WipeMode is how an extent is zeroed.
type WipeMode string

// Wipe modes.
const (
	// WipeFast zeroes with fallocate (zero-range, else punch-hole) on a file, BLKZEROOUT on a block
	// device. It reads back zero; on a file the old bytes may stay on the medium, which is safe
	// only because guests never see the raw store.
	WipeFast WipeMode = "fast"
	// WipeOverwrite writes zeros over every byte, for operators who must destroy them.
	WipeOverwrite WipeMode = "overwrite"
	// WipePunchHole is fast with punch-hole only: the extent's blocks go back to the filesystem.
	// The benchmark compares it with zero-range.
	WipePunchHole WipeMode = "punch-hole"
)

// Extent is a run of the store.
type Extent struct {
	Offset int64 `json:"offset"`
	Size   int64 `json:"size"`
}

func (e Extent) end() int64 { return e.Offset + e.Size }

// ExtentState is an extent record's state.
type ExtentState string

// Extent states.
const (
	Allocated ExtentState = "allocated" // a volume's
	Wiping    ExtentState = "wiping"    // being freed; wiped again after a crash
	Wiped     ExtentState = "wiped"     // free, and proven zeroed: the record of it stays until reuse
	Unwiped   ExtentState = "unwiped"   // freed with scrubbing off: its old data is there
)

// free tells whether an extent record describes free space.
func (s ExtentState) free() bool { return s == Wiped || s == Unwiped }

// ExtentRecord is what the journal keeps of an extent: whose it is and what became of it.
type ExtentRecord struct {
	Extent
	ID    string      `json:"id"` // the volume's id, or "free-<offset>" for free space
	State ExtentState `json:"state"`
	// LastVolume is, for free space, the volume that had it.
	LastVolume string    `json:"last_volume,omitempty"`
	WipedAt    time.Time `json:"wiped_at,omitzero"`
	WipeMode   WipeMode  `json:"wipe_mode,omitempty"`
	CreatedAt  time.Time `json:"created_at"`
}

// ExtentJournal keeps extent records across daemon restarts.
type ExtentJournal interface {
	SaveExtent(*ExtentRecord) error
	DeleteExtent(id string) error
}

// DiskConfig sets up a store.
type DiskConfig struct {
	Path    string // a file (created sparse) or a block device
	Size    int64  // for a file
	Scrub   bool
	Wipe    WipeMode
	Journal ExtentJournal
	Log     *slog.Logger
	// Wiped, if set, is told of every extent wiped: its size and how long it took.
	Wiped func(bytes int64, took time.Duration)
}

// DiskStats is the store's accounting, as `pool describe` prints it.
type DiskStats struct {
	TotalBytes     int64 `json:"TotalBytes"`
	AllocatedBytes int64 `json:"AllocatedBytes"`
	FreeBytes      int64 `json:"FreeBytes"`
	DirtyBytes     int64 `json:"DirtyBytes"`
	WipedBytes     int64 `json:"WipedBytes"`
}

// ErrNoSpace means no free run of the store is as large as asked.
var ErrNoSpace = errors.New("the disk store has no free run that large")

// Alignment of every extent: 1 MiB keeps them aligned for any device and any page size.
const Alignment = 1 << 20

// DiskStore is the store.
type DiskStore struct {
	cfg   DiskConfig
	log   *slog.Logger
	total int64

	mu      sync.Mutex
	extents map[string]*ExtentRecord
	wiped   int64
}

// OpenDiskStore opens (creating a file store if need be) the store with an earlier daemon's
// records. An extent whose wipe was interrupted is wiped now.
func OpenDiskStore(cfg DiskConfig, saved []*ExtentRecord) (*DiskStore, error) {
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	total, err := openBacking(cfg.Path, cfg.Size)
	if err != nil {
		return nil, err
	}
	s := &DiskStore{cfg: cfg, log: cfg.Log, total: total - total%Alignment, extents: map[string]*ExtentRecord{}}
	for _, r := range saved {
		s.extents[r.ID] = r
	}
	for _, r := range saved {
		if r.State == Wiping {
			s.log.Warn("finishing the wipe of an extent a crash interrupted", "extent", r.ID, "offset", r.Offset, "bytes", r.Size)
			if err := s.wipeAndFree(r); err != nil {
				return nil, err
			}
		}
	}
	if !cfg.Scrub {
		s.log.Warn("disk wiping is OFF: a deleted volume's bytes are handed to the next volume as they are. This is for demonstrating remanence only.")
	}
	return s, nil
}

// Create allocates an extent of size bytes (a multiple of Alignment) for volume id: the first
// free run that fits, the runs between allocations being merged by construction.
func (s *DiskStore) Create(id string, size int64) (*ExtentRecord, error) {
	if size <= 0 || size%Alignment != 0 {
		return nil, fmt.Errorf("a volume's size must be a positive multiple of %d bytes", Alignment)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	off, ok := s.firstFitLocked(size)
	if !ok {
		return nil, fmt.Errorf("%w: %d bytes asked, %d free in all", ErrNoSpace, size, s.total-s.allocatedLocked())
	}
	ext := Extent{Offset: off, Size: size}
	// The free-space records this extent takes over; unwiped ones (scrubbing off) loudly.
	for fid, r := range s.extents {
		if !r.State.free() || !overlaps(r.Extent, ext) {
			continue
		}
		if r.State == Unwiped {
			s.log.Warn("REUSING UNWIPED DISK (wiping is off): the last volume's data is in it", "volume", id, "last_volume", r.LastVolume, "offset", r.Offset, "bytes", r.Size)
		}
		delete(s.extents, fid)
		_ = s.cfg.Journal.DeleteExtent(fid)
	}
	r := &ExtentRecord{Extent: ext, ID: id, State: Allocated, CreatedAt: time.Now().UTC()}
	if err := s.cfg.Journal.SaveExtent(r); err != nil {
		return nil, err
	}
	s.extents[id] = r
	out := *r
	return &out, nil
}

func overlaps(a, b Extent) bool { return a.Offset < b.end() && b.Offset < a.end() }

func (s *DiskStore) firstFitLocked(size int64) (int64, bool) {
	var used []Extent
	for _, r := range s.extents {
		if !r.State.free() {
			used = append(used, r.Extent)
		}
	}
	sort.Slice(used, func(i, j int) bool { return used[i].Offset < used[j].Offset })
	next := int64(0)
	for _, e := range used {
		if e.Offset-next >= size {
			return next, true
		}
		next = max(next, e.end())
	}
	return next, s.total-next >= size
}

func (s *DiskStore) allocatedLocked() int64 {
	n := int64(0)
	for _, r := range s.extents {
		if !r.State.free() {
			n += r.Size
		}
	}
	return n
}

// Delete frees volume id's extent, wiping it first (unless scrubbing is off).
func (s *DiskStore) Delete(id string) error {
	s.mu.Lock()
	r, ok := s.extents[id]
	if !ok || r.State != Allocated {
		s.mu.Unlock()
		return fmt.Errorf("no allocated extent %s", id)
	}
	r.State = Wiping
	err := s.cfg.Journal.SaveExtent(r) // a crash from here on finishes the wipe at the next start
	s.mu.Unlock()
	if err != nil {
		return err
	}
	return s.wipeAndFree(r)
}

// wipeAndFree wipes a volume's extent (unless scrubbing is off) and turns its record into one of
// free space that says how and when it was wiped, or that it was not.
func (s *DiskStore) wipeAndFree(r *ExtentRecord) error {
	free := &ExtentRecord{Extent: r.Extent, ID: fmt.Sprintf("free-%d", r.Offset), State: Unwiped, LastVolume: r.ID, CreatedAt: time.Now().UTC()}
	if s.cfg.Scrub {
		start := time.Now()
		if err := wipeExtent(s.cfg.Path, r.Extent, s.cfg.Wipe); err != nil {
			return fmt.Errorf("wiping %s: %w", r.ID, err)
		}
		free.State, free.WipedAt, free.WipeMode = Wiped, time.Now().UTC(), s.cfg.Wipe
		took := time.Since(start)
		s.log.Info("volume extent wiped and freed", "volume", r.ID, "offset", r.Offset, "bytes", r.Size, "mode", s.cfg.Wipe, "took", took)
		if s.cfg.Wiped != nil {
			s.cfg.Wiped(r.Size, took)
		}
	} else {
		s.log.Warn("volume extent freed and NOT wiped (wiping is off)", "volume", r.ID, "offset", r.Offset, "bytes", r.Size)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if free.State == Wiped {
		s.wiped += r.Size
	}
	delete(s.extents, r.ID)
	s.extents[free.ID] = free
	return errors.Join(s.cfg.Journal.SaveExtent(free), s.cfg.Journal.DeleteExtent(r.ID))
}

// Stats is the store's accounting now.
func (s *DiskStore) Stats() DiskStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := DiskStats{TotalBytes: s.total, AllocatedBytes: s.allocatedLocked(), WipedBytes: s.wiped}
	for _, r := range s.extents {
		if r.State == Unwiped {
			st.DirtyBytes += r.Size
		}
	}
	st.FreeBytes = st.TotalBytes - st.AllocatedBytes
	return st
}

// Path is the store's backing file or device.
func (s *DiskStore) Path() string { return s.cfg.Path }

// Extent returns volume id's extent.
func (s *DiskStore) Extent(id string) (Extent, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.extents[id]
	if !ok || r.State != Allocated {
		return Extent{}, false
	}
	return r.Extent, true
}
