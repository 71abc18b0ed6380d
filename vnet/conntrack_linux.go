package vnet

import (
	"errors"
	"fmt"
	"time"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"github.com/hostd/hostd/bpf"
)

// DefaultConntrackLimit is how many flows the datapath tracks at most; MaxConntrackLimit is half
// the LRU map's room, so that the limit, not eviction, decides.
const (
	DefaultConntrackLimit = 1 << 17
	MaxConntrackLimit     = 1 << 17
)

// SetConntrackLimit sets how many flows may be tracked at once.
func (dp *Datapath) SetConntrackLimit(limit uint32) error {
	if limit > MaxConntrackLimit || limit > dp.maps.Conntrack.MaxEntries()/2 {
		return fmt.Errorf("conntrack limit %d: at most %d", limit, MaxConntrackLimit)
	}
	return dp.updateSettings(func(c *bpf.DatapathConfig) { c.CtLimit = limit })
}

// SkewClock moves the datapath's clock forward by d, as tests do to expire flows.
func (dp *Datapath) SkewClock(d time.Duration) error {
	return dp.updateSettings(func(c *bpf.DatapathConfig) { c.ClockSkew += uint64(d) })
}

func (dp *Datapath) updateSettings(change func(*bpf.DatapathConfig)) error {
	var cfg bpf.DatapathConfig
	if err := dp.maps.Settings.Lookup(uint32(0), &cfg); err != nil {
		return err
	}
	change(&cfg)
	return dp.maps.Settings.Put(uint32(0), cfg)
}

// now is the datapath's clock: CLOCK_MONOTONIC (bpf_ktime_get_ns) plus the skew.
func (dp *Datapath) now() (uint64, error) {
	var cfg bpf.DatapathConfig
	if err := dp.maps.Settings.Lookup(uint32(0), &cfg); err != nil {
		return 0, err
	}
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		return 0, err
	}
	return uint64(ts.Nano()) + cfg.ClockSkew, nil
}

// Indexes of ct_count.
const (
	ctCountDatapath  = uint32(bpf.DatapathCtCountIndexCT_COUNT_DATAPATH)
	ctCountCollected = uint32(bpf.DatapathCtCountIndexCT_COUNT_COLLECTED)
)

// ConntrackCount returns how many flows the table holds (expired ones not yet collected too).
func (dp *Datapath) ConntrackCount() uint64 {
	var added, collected uint64
	_ = dp.maps.CtCount.Lookup(ctCountDatapath, &added)
	_ = dp.maps.CtCount.Lookup(ctCountCollected, &collected)
	return added - collected
}

// CollectConntrack removes expired flows and returns how many it removed. The daemon runs it
// periodically: the datapath removes an expired flow only when a packet of it comes by. Only
// one collector may run at a time (it alone writes the collected count).
func (dp *Datapath) CollectConntrack() (int, error) {
	now, err := dp.now()
	if err != nil {
		return 0, err
	}
	var key bpf.DatapathCtKey
	var e bpf.DatapathCtEntry
	var expired []bpf.DatapathCtKey
	for it := dp.maps.Conntrack.Iterate(); it.Next(&key, &e); {
		if now >= e.Expires {
			expired = append(expired, key)
		}
	}
	removed := 0
	for _, k := range expired {
		// Deleted here or by a packet: whoever deletes it uncounts it.
		if err := dp.maps.Conntrack.Delete(k); err == nil {
			removed++
		} else if !errors.Is(err, ebpf.ErrKeyNotExist) {
			return removed, err
		}
	}
	if removed == 0 {
		return 0, nil
	}
	var collected uint64
	if err := dp.maps.CtCount.Lookup(ctCountCollected, &collected); err != nil {
		return removed, err
	}
	return removed, dp.maps.CtCount.Put(ctCountCollected, collected+uint64(removed))
}

// ConntrackLimit returns how many flows may be tracked at once.
func (dp *Datapath) ConntrackLimit() uint32 {
	var cfg bpf.DatapathConfig
	_ = dp.maps.Settings.Lookup(uint32(0), &cfg)
	return cfg.CtLimit
}
