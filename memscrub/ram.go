// Package memscrub owns the guest RAM pool: regions of memory handed to instances, taken back when
// they end, and zeroed before anyone else gets them. A hypervisor scrubs a tenant's memory before
// reusing it (Xen in its idle loop, and on demand when an allocation finds only dirty pages);
// memscrub does the same with regions that are files on a tmpfs the daemon owns. It depends on
// nothing else in hostd.
package memscrub

import (
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sort"
	"sync"
	"time"
)

// RegionState is where a region is in its cycle: in use by an instance, released and dirty,
// being scrubbed, or clean and ready to hand out.
type RegionState string

// Region states.
const (
	InUse     RegionState = "in-use"
	Dirty     RegionState = "dirty"
	Scrubbing RegionState = "scrubbing"
	Clean     RegionState = "clean"
)

// Region is one guest RAM region and its history: who had it last, and whether and how it was
// zeroed since. The record is what lets an operator show that each release was scrubbed.
type Region struct {
	ID        string      `json:"id"`
	Size      int64       `json:"size"`
	State     RegionState `json:"state"`
	Owner     string      `json:"owner,omitempty"`
	LastOwner string      `json:"last_owner,omitempty"`
	// Scrubbed is true once the region is proven zero since its last release (or since it was
	// made); false for a clean region that was handed back unscrubbed with scrubbing off.
	Scrubbed      bool      `json:"scrubbed"`
	ReleasedAt    time.Time `json:"released_at,omitzero"`
	ScrubbedAt    time.Time `json:"scrubbed_at,omitzero"`
	ScrubbedBytes int64     `json:"scrubbed_bytes,omitempty"`
	Uses          int       `json:"uses"`
}

// Journal keeps region records across daemon restarts.
type Journal interface {
	SaveRegion(*Region) error
	DeleteRegion(id string) error
}

// RAMConfig sets up a pool.
type RAMConfig struct {
	// Dir is where region files live; it should be a tmpfs of the daemon's own.
	Dir        string
	TotalBytes int64
	// Scrub off hands released regions out again unzeroed: for demonstrating remanence only.
	Scrub   bool
	Workers int
	// RateBytesPerSec caps each worker's scrubbing (0: no cap), so that background scrubbing
	// leaves memory bandwidth to the guests.
	RateBytesPerSec int64
	Journal         Journal
	Log             *slog.Logger
	// Scrubbed, if set, is told of every region scrubbed: its size and how long it took.
	Scrubbed func(bytes int64, took time.Duration)
}

// RAMStats is the pool's accounting, as `pool describe` prints it.
type RAMStats struct {
	TotalBytes int64 `json:"TotalBytes"`
	InUseBytes int64 `json:"InUseBytes"` // held by instances (or being made for one)
	// MakingBytes are regions being made for the reserve: soon clean.
	MakingBytes   int64 `json:"MakingBytes"`
	CleanBytes    int64 `json:"CleanBytes"`
	DirtyBytes    int64 `json:"DirtyBytes"`
	ScrubbedBytes int64 `json:"ScrubbedBytes"`
}

// ErrInsufficientCapacity means the pool cannot hold another region of the size asked for.
var ErrInsufficientCapacity = errors.New("the RAM pool has no room for the region")

// RAMPool is the pool.
type RAMPool struct {
	cfg RAMConfig
	log *slog.Logger

	mu       sync.Mutex
	scrubbed sync.Cond // signalled when a scrub ends, on mu
	regions  map[string]*Region
	zeroed   int64 // bytes scrubbed since the daemon started
	nextID   int
	wake     chan struct{}
	stop     chan struct{}
	workers  sync.WaitGroup
	// reserve clean regions of reserveSize are kept ready (Reserve), made by one worker at a
	// time (making), so that the others, and launches, keep a core.
	reserve     int
	reserveSize int64
	making      bool
}

// OpenRAMPool opens the pool with the regions an earlier daemon recorded. A region still held
// by a running instance (live) stays in use; every other one that is not proven zero is dirty
// and will be scrubbed before it is handed out. Region files with no record are removed.
func OpenRAMPool(cfg RAMConfig, saved []*Region, live map[string]bool) (*RAMPool, error) {
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.Workers < 1 {
		cfg.Workers = 1
	}
	p := &RAMPool{cfg: cfg, log: cfg.Log, regions: map[string]*Region{}, wake: make(chan struct{}, 1), stop: make(chan struct{})}
	p.scrubbed.L = &p.mu
	for _, r := range saved {
		if size, err := fileSize(p.path(r.ID)); err != nil || size != r.Size {
			p.log.Warn("RAM region lost (its memory went with a reboot or unmount)", "region", r.ID)
			_ = cfg.Journal.DeleteRegion(r.ID)
			continue
		}
		switch {
		case r.State == InUse && live[r.Owner]:
		case r.State == Clean && r.Scrubbed:
		default:
			// Released but not proven scrubbed, or held by an instance that is gone.
			r.State, r.Scrubbed = Dirty, false
			if r.Owner != "" {
				r.LastOwner, r.Owner, r.ReleasedAt = r.Owner, "", time.Now().UTC()
			}
			if err := cfg.Journal.SaveRegion(r); err != nil {
				return nil, err
			}
		}
		p.regions[r.ID] = r
		p.nextID = max(p.nextID, regionNumber(r.ID)+1)
	}
	if err := p.removeUnknownFiles(); err != nil {
		return nil, err
	}
	if !cfg.Scrub {
		p.log.Warn("RAM scrubbing is OFF: released guest memory is handed to the next instance as it is. This is for demonstrating remanence only.")
	}
	for range cfg.Workers {
		p.workers.Add(1)
		go p.scrubWorker()
	}
	p.kick()
	return p, nil
}

// Close stops the scrubbers. Regions and their files stay.
func (p *RAMPool) Close() {
	close(p.stop)
	p.workers.Wait()
}

// Path is the file of a region, to hand to an instance.
func (p *RAMPool) Path(id string) string { return p.path(id) }

func (p *RAMPool) path(id string) string { return filepath.Join(p.cfg.Dir, id) }

func regionNumber(id string) int {
	var n int
	_, _ = fmt.Sscanf(id, "ram-%d", &n)
	return n
}

// Allocate gives owner a zeroed region of size bytes: a clean one of that size if there is one,
// else fresh memory from the kernel (dropping clean regions of other sizes to make room), else a
// dirty region scrubbed on the spot, else one a scrubber is busy with, once it is done. Never a
// dirty one as it is.
func (p *RAMPool) Allocate(owner string, size int64) (*Region, error) {
	p.mu.Lock()
	for p.pickLocked(Clean, size) == nil && !p.roomLocked(size) && p.pickLocked(Dirty, size) == nil && p.anyLocked(Scrubbing) {
		p.scrubbed.Wait()
	}
	if r := p.pickLocked(Clean, size); r != nil {
		if !r.Scrubbed {
			p.log.Warn("REUSING AN UNSCRUBBED RAM REGION (scrubbing is off): the last tenant's data is in it",
				"region", r.ID, "last_owner", r.LastOwner, "new_owner", owner)
		}
		return p.handOutLocked(r, owner)
	}
	if p.makeRoomLocked(size) {
		r, err := p.freshLocked(size, owner)
		if err != nil {
			p.mu.Unlock()
			return nil, err
		}
		return p.handOutLocked(r, owner)
	}
	// Only dirty memory of this size is left: scrub one now rather than make the launch wait.
	if r := p.pickLocked(Dirty, size); r != nil {
		r.State = Scrubbing
		p.mu.Unlock()
		err := p.scrub(r)
		p.mu.Lock()
		p.scrubbed.Broadcast()
		if err != nil {
			r.State = Dirty
			p.mu.Unlock()
			return nil, err
		}
		return p.handOutLocked(r, owner)
	}
	p.mu.Unlock()
	return nil, fmt.Errorf("%w: %d bytes asked, %s", ErrInsufficientCapacity, size, p.describeUse())
}

// Reserve keeps n clean regions of size ready from now on, made in the background while the pool
// has room for them without dropping any, and topped up as they are taken: launches after a start
// then find memory already faulted in. A failure to make one (a pool tmpfs smaller than the pool,
// left by an earlier daemon) turns the reserve off, and says so.
func (p *RAMPool) Reserve(n int, size int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.reserve, p.reserveSize = n, size
	p.kick()
}

// freshLocked makes a new region of size from the kernel's memory, clean, for owner (or the
// reserve). It unlocks while the memory is faulted in, with the region counted as in use so that
// nobody else takes the room, and returns locked.
func (p *RAMPool) freshLocked(size int64, owner string) (*Region, error) {
	r := &Region{ID: fmt.Sprintf("ram-%d", p.nextID), Size: size, Scrubbed: true, State: InUse, Owner: owner}
	p.nextID++
	p.regions[r.ID] = r
	p.mu.Unlock()
	err := createRegion(p.path(r.ID), size)
	p.mu.Lock()
	if err != nil {
		delete(p.regions, r.ID)
		return nil, err
	}
	r.State, r.Owner = Clean, ""
	return r, nil
}

// reserveShortLocked tells whether the reserve lacks a region and the pool has room for one
// without dropping any.
func (p *RAMPool) reserveShortLocked() bool {
	if p.reserve == 0 {
		return false
	}
	ready, used := 0, int64(0)
	for _, r := range p.regions {
		used += r.Size
		if r.State == Clean && r.Size == p.reserveSize {
			ready++
		}
	}
	return ready < p.reserve && used+p.reserveSize <= p.cfg.TotalBytes
}

// anyLocked tells whether some region is in state.
func (p *RAMPool) anyLocked(state RegionState) bool {
	for _, r := range p.regions {
		if r.State == state {
			return true
		}
	}
	return false
}

// roomLocked tells whether a new region of size fits, counting what makeRoomLocked could drop.
func (p *RAMPool) roomLocked(size int64) bool {
	used := int64(0)
	for _, r := range p.regions {
		if r.State == InUse || r.State == Scrubbing || r.Size == size {
			used += r.Size
		}
	}
	return used+size <= p.cfg.TotalBytes
}

// pickLocked returns the lowest-numbered region in state of exactly size, or nil.
func (p *RAMPool) pickLocked(state RegionState, size int64) *Region {
	var found []*Region
	for _, r := range p.regions {
		if r.State == state && r.Size == size {
			found = append(found, r)
		}
	}
	if len(found) == 0 {
		return nil
	}
	sort.Slice(found, func(i, j int) bool { return regionNumber(found[i].ID) < regionNumber(found[j].ID) })
	return found[0]
}

// makeRoomLocked tells whether a new region of size fits, dropping regions that are not in use
// and of other sizes if need be (their memory goes back to the kernel, which zeroes it).
func (p *RAMPool) makeRoomLocked(size int64) bool {
	used := int64(0)
	for _, r := range p.regions {
		used += r.Size
	}
	for _, state := range []RegionState{Clean, Dirty} {
		for id, r := range p.regions {
			if used+size <= p.cfg.TotalBytes {
				return true
			}
			if r.State == state && r.Size != size {
				if err := removeRegion(p.path(id)); err != nil {
					p.log.Error("dropping a RAM region", "region", id, "err", err)
					continue
				}
				_ = p.cfg.Journal.DeleteRegion(id)
				delete(p.regions, id)
				used -= r.Size
			}
		}
	}
	return used+size <= p.cfg.TotalBytes
}

// handOutLocked marks r in use by owner, records it and unlocks.
func (p *RAMPool) handOutLocked(r *Region, owner string) (*Region, error) {
	r.State, r.Owner = InUse, owner
	r.Uses++
	err := p.cfg.Journal.SaveRegion(r)
	out := *r
	p.kick() // the reserve may want topping up
	p.mu.Unlock()
	if err != nil {
		p.Release(r.ID, owner)
		return nil, err
	}
	return &out, nil
}

// Release takes a region back from owner. With scrubbing on it is dirty until a worker zeroes
// it; with scrubbing off it is clean at once, and its contents stay. A region owner no longer
// holds (it was reclaimed after a restart and handed on) is left alone.
func (p *RAMPool) Release(id, owner string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	r, ok := p.regions[id]
	if !ok || r.State != InUse || r.Owner != owner {
		return
	}
	r.LastOwner, r.Owner, r.ReleasedAt = r.Owner, "", time.Now().UTC()
	r.State, r.Scrubbed = Dirty, false
	if !p.cfg.Scrub {
		r.State = Clean
		p.log.Warn("RAM region released and NOT scrubbed (scrubbing is off)", "region", id, "last_owner", r.LastOwner, "bytes", r.Size)
	} else {
		p.log.Info("RAM region released; scrubbing before reuse", "region", id, "last_owner", r.LastOwner, "bytes", r.Size)
	}
	if err := p.cfg.Journal.SaveRegion(r); err != nil {
		p.log.Error("recording a released region", "region", id, "err", err)
	}
	p.kick()
}

func (p *RAMPool) kick() {
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// scrubWorker zeroes dirty regions in the background.
func (p *RAMPool) scrubWorker() {
	defer p.workers.Done()
	for {
		select {
		case <-p.stop:
			return
		default:
		}
		p.mu.Lock()
		var next *Region
		for _, r := range p.regions {
			if r.State == Dirty && p.cfg.Scrub {
				next = r
				break
			}
		}
		if next != nil {
			next.State = Scrubbing
		}
		if next == nil && !p.making && p.reserveShortLocked() {
			p.making = true
			r, err := p.freshLocked(p.reserveSize, "")
			if err == nil {
				err = p.cfg.Journal.SaveRegion(r)
			}
			if err != nil {
				p.reserve = 0
				p.log.Error("making a reserve RAM region failed; no reserve is kept", "err", err)
			}
			p.making = false
			p.mu.Unlock()
			continue
		}
		p.mu.Unlock()
		if next == nil {
			select {
			case <-p.wake:
				continue
			case <-p.stop:
				return
			}
		}
		err := p.scrub(next)
		p.mu.Lock()
		p.scrubbed.Broadcast()
		if err != nil {
			p.log.Error("scrubbing a RAM region", "region", next.ID, "err", err)
			next.State = Dirty
		} else {
			next.State = Clean
			if err := p.cfg.Journal.SaveRegion(next); err != nil {
				p.log.Error("recording a scrubbed region", "region", next.ID, "err", err)
			}
		}
		p.mu.Unlock()
		if err != nil {
			// Do not spin on a region that cannot be scrubbed.
			select {
			case <-time.After(time.Second):
			case <-p.stop:
			}
		}
	}
}

// scrub zeroes r (which its caller has marked Scrubbing) and records it.
func (p *RAMPool) scrub(r *Region) error {
	start := time.Now()
	if err := ScrubRegion(p.path(r.ID), r.Size, p.cfg.RateBytesPerSec); err != nil {
		return err
	}
	took := time.Since(start)
	p.mu.Lock()
	r.Scrubbed, r.ScrubbedAt, r.ScrubbedBytes = true, time.Now().UTC(), r.Size
	p.zeroed += r.Size
	p.mu.Unlock()
	p.log.Info("RAM region scrubbed", "region", r.ID, "bytes", r.Size, "last_owner", r.LastOwner, "mode", "zero", "took", took)
	if p.cfg.Scrubbed != nil {
		p.cfg.Scrubbed(r.Size, took)
	}
	return nil
}

// Stats is the pool's accounting now.
func (p *RAMPool) Stats() RAMStats {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := RAMStats{TotalBytes: p.cfg.TotalBytes, ScrubbedBytes: p.zeroed}
	for _, r := range p.regions {
		switch r.State {
		case InUse:
			if r.Owner == "" { // being made for the reserve
				s.MakingBytes += r.Size
			} else {
				s.InUseBytes += r.Size
			}
		case Clean:
			s.CleanBytes += r.Size
		default:
			s.DirtyBytes += r.Size
		}
	}
	return s
}

func (p *RAMPool) describeUse() string {
	s := p.Stats()
	return fmt.Sprintf("pool %d bytes: %d in use, %d clean, %d dirty", s.TotalBytes, s.InUseBytes, s.CleanBytes, s.DirtyBytes)
}
