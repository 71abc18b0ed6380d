package daemon

import (
	"errors"
	"os"
	"path/filepath"

	"github.com/hostd/hostd/hostd/api"
	"github.com/hostd/hostd/hostd/state"
	"github.com/hostd/hostd/memscrub"
)

// DefaultGuestRAM is the size of /dev/guest-ram when `instance run` does not say (--ram).
const DefaultGuestRAM = 16 << 20

func (d *Daemon) ramDir() string { return filepath.Join(d.cfg.StateDir, "ram") }

// openRAMPool mounts the pool's tmpfs (or finds it from an earlier daemon) and opens the pool
// with the recorded regions; only those of instances still running stay in use.
func (d *Daemon) openRAMPool() error {
	if err := memscrub.MountPoolDir(d.ramDir(), d.cfg.RAMPoolBytes); err != nil {
		return err
	}
	saved, err := d.store.Regions()
	if err != nil {
		return err
	}
	live := map[string]bool{}
	for id, in := range d.instances {
		if in.rec.Phase == state.Running {
			live[id] = true
		}
	}
	d.ram, err = memscrub.OpenRAMPool(memscrub.RAMConfig{
		Dir: d.ramDir(), TotalBytes: d.cfg.RAMPoolBytes, Scrub: d.cfg.Scrub,
		Workers: d.cfg.ScrubWorkers, RateBytesPerSec: d.cfg.ScrubRate, Journal: d.store, Log: d.log,
		Scrubbed: observeSeconds(d.metrics.scrub),
	}, saved, live)
	return err
}

// reserveRegions is how many regions of the default size the pool keeps clean and faulted in
// ahead of launches: four, or fewer so as to hold at most a quarter of the pool.
func reserveRegions(poolBytes int64) int {
	return int(min(4, poolBytes/4/DefaultGuestRAM))
}

// takeRAM gives a launching instance its region, owned by the guest's root, and returns its path.
func (d *Daemon) takeRAM(rec *state.Instance, size int64) (string, error) {
	region, err := d.ram.Allocate(rec.ID, size)
	if errors.Is(err, memscrub.ErrInsufficientCapacity) {
		return "", api.Errorf(api.CodeInsufficientCapacity, "%v; lower --ram or raise the daemon's --ram-pool", err)
	}
	if err != nil {
		return "", err
	}
	rec.RAMRegion, rec.RAMBytes = region.ID, size
	path := d.ram.Path(region.ID)
	if err := os.Chown(path, int(rec.HostID), int(rec.HostID)); err != nil {
		d.releaseRAM(rec)
		return "", err
	}
	return path, nil
}

// releaseRAM gives an instance's region back to the pool, to be scrubbed before reuse.
func (d *Daemon) releaseRAM(rec *state.Instance) {
	if rec.RAMRegion == "" || d.ram == nil {
		return
	}
	_ = os.Chown(d.ram.Path(rec.RAMRegion), 0, 0)
	d.ram.Release(rec.RAMRegion, rec.ID)
}

// DescribePool is the pools' accounting. The pools are shared by every account, so only the
// operator sees them.
func (d *Daemon) DescribePool(c api.Caller) (api.PoolDescription, error) {
	if !c.Operator {
		return api.PoolDescription{}, api.Errorf(api.CodeUnauthorizedOperation, "the pools are shared by every account; only the operator may describe them")
	}
	s, ds := d.ram.Stats(), d.disk.Stats()
	return api.PoolDescription{
		RamPool: api.RamPoolStats{
			TotalBytes: s.TotalBytes, InUseBytes: s.InUseBytes, MakingBytes: s.MakingBytes, CleanBytes: s.CleanBytes,
			DirtyBytes: s.DirtyBytes, ScrubbedBytes: s.ScrubbedBytes, Scrub: d.cfg.Scrub,
		},
		DiskStore: api.DiskStoreStats{
			TotalBytes: ds.TotalBytes, AllocatedBytes: ds.AllocatedBytes, FreeBytes: ds.FreeBytes,
			DirtyBytes: ds.DirtyBytes, WipedBytes: ds.WipedBytes,
		},
	}, nil
}
