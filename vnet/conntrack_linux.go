package vnet

import (
	"fmt"
	"math"
	"time"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"github.com/hostd/hostd/bpf"
)

// DefaultConntrackLimit is how many conntrack entries (flows, and first fragments' records) the
// datapath holds at most, all interfaces together: the conntrack map's room, 2,097,152 (128
// instances at the default allowance). Its hash index takes 32 MiB of kernel memory from the
// start; the entries about 128 bytes each while in use (256 MiB if all were). MaxConntrackLimit
// is the same: the map's size.
const (
	DefaultConntrackLimit = 1 << 21
	MaxConntrackLimit     = 1 << 21
)

// DefaultConntrackAllowance is the share of the conntrack table an interface gets unless told
// otherwise (Interface.ConntrackAllowance): the entries it may open. (EC2 sizes this allowance by
// instance type and does not publish it; the daemon's default scales with an instance's memory.)
const DefaultConntrackAllowance = 1 << 14

// initConntrack sets the conntrack limit of a fresh datapath.
func (dp *Datapath) initConntrack() error {
	var cfg bpf.DatapathConfig
	if err := dp.maps.Settings.Lookup(uint32(0), &cfg); err != nil {
		return err
	}
	if cfg.CtLimit == 0 {
		return dp.SetConntrackLimit(DefaultConntrackLimit)
	}
	return nil
}

// SetConntrackLimit sets how many conntrack entries the fabric holds at once.
func (dp *Datapath) SetConntrackLimit(limit uint32) error {
	if limit > MaxConntrackLimit || limit > dp.maps.Conntrack.MaxEntries() {
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
	return dp.put(dp.maps.Settings, uint32(0), cfg)
}

// now is the datapath's clock: CLOCK_MONOTONIC_COARSE (bpf_ktime_get_coarse_ns) plus the skew.
func (dp *Datapath) now() (uint64, error) {
	var cfg bpf.DatapathConfig
	if err := dp.maps.Settings.Lookup(uint32(0), &cfg); err != nil {
		return 0, err
	}
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC_COARSE, &ts); err != nil {
		return 0, err
	}
	return uint64(ts.Nano()) + cfg.ClockSkew, nil
}

// ConntrackCount returns how many entries the table holds, all interfaces together (expired
// ones not yet collected too).
func (dp *Datapath) ConntrackCount() (int64, error) {
	var n int64
	err := dp.maps.CtCount.Lookup(uint32(0), &n)
	return n, err
}

// ConntrackLimit returns how many entries the table holds at most.
func (dp *Datapath) ConntrackLimit() (uint32, error) {
	var cfg bpf.DatapathConfig
	err := dp.maps.Settings.Lookup(uint32(0), &cfg)
	return cfg.CtLimit, err
}

// ConntrackUsage returns how many conntrack entries the interface whose host end is ifindex has
// opened that are still in the table, and its allowance.
func (dp *Datapath) ConntrackUsage(ifindex int) (tracked int64, allowance uint32, err error) {
	var usage bpf.DatapathIfaceUsage
	var iface bpf.DatapathIface
	if err := dp.maps.Usage.Lookup(uint32(ifindex), &usage); err != nil {
		return 0, 0, err
	}
	if err := dp.maps.Ifaces.Lookup(uint32(ifindex), &iface); err != nil {
		return 0, 0, err
	}
	return usage.Tracked, iface.CtAllowance, nil
}

// ConntrackPressed tells whether the table, or some interface's share of it, is full: expired
// entries are then worth collecting at once rather than at the next round.
func (dp *Datapath) ConntrackPressed() (bool, error) {
	n, err := dp.ConntrackCount()
	if err != nil {
		return false, err
	}
	limit, err := dp.ConntrackLimit()
	if err != nil || n >= int64(limit) {
		return err == nil, err
	}
	var ifindex uint32
	var usage bpf.DatapathIfaceUsage
	for it := dp.maps.Usage.Iterate(); it.Next(&ifindex, &usage); {
		var iface bpf.DatapathIface
		if dp.maps.Ifaces.Lookup(ifindex, &iface) == nil && usage.Tracked >= int64(iface.CtAllowance) {
			return true, nil
		}
	}
	return false, nil
}

// CollectConntrack removes expired entries and returns how many it removed. The daemon runs it
// periodically: the datapath removes an expired entry only when a packet of it comes by.
func (dp *Datapath) CollectConntrack() (int, error) {
	now, err := dp.now()
	if err != nil {
		return 0, err
	}
	return dp.removeConntrack(now, func(_ bpf.DatapathCtKey, e bpf.DatapathCtEntry) bool { return now >= e.Expires })
}

// forgetConntrack removes the entries an interface opened and those of flows to or from its
// address: once it is gone, nothing may ride on them (its address may be given to another).
func (dp *Datapath) forgetConntrack(ifindex, vpc, ip uint32) {
	_, _ = dp.removeConntrack(math.MaxUint64, func(k bpf.DatapathCtKey, e bpf.DatapathCtEntry) bool {
		return e.Owner == ifindex || k.Vpc == vpc && (k.Addr[0] == ip || k.Addr[1] == ip)
	})
}

// removeConntrack removes the entries that match and have expired by now (math.MaxUint64: all
// that match), through ct_collect, which releases each entry's charges as the datapath does.
func (dp *Datapath) removeConntrack(now uint64, match func(bpf.DatapathCtKey, bpf.DatapathCtEntry) bool) (int, error) {
	var key bpf.DatapathCtKey
	var e bpf.DatapathCtEntry
	var matching []bpf.DatapathCtKey
	for it := dp.maps.Conntrack.Iterate(); it.Next(&key, &e); {
		if match(key, e) {
			matching = append(matching, key)
		}
	}
	removed := 0
	for _, k := range matching {
		ret, err := dp.progs.CtCollect.Run(&ebpf.RunOptions{Context: bpf.DatapathCtCollectArgs{Key: k, Now: now}})
		if err != nil {
			return removed, fmt.Errorf("removing a conntrack entry: %w", err)
		}
		removed += int(ret)
	}
	return removed, nil
}
