package daemon

import (
	"context"
	"errors"
	"time"
)

// firewallHousekeeping collects expired flows every 10 s (the datapath removes one only when a
// packet of it comes by), and every 2 s while the table or an interface's share of it is full;
// says within 2 s when the table fills up or has room again; and drops unused policies.
func (d *Daemon) firewallHousekeeping(ctx context.Context) {
	tick := time.NewTicker(2 * time.Second)
	defer tick.Stop()
	wasFull := false
	for n := 1; ; n++ {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		pressed, err := d.dp.ConntrackPressed()
		if err != nil {
			d.log.Error("reading the conntrack table's counts", "err", err)
		}
		if n%5 == 0 || pressed {
			if _, err := d.dp.CollectConntrack(); err != nil {
				d.log.Error("collecting expired flows", "err", err)
			}
		}
		if n%5 == 0 {
			d.mu.Lock()
			d.prunePoliciesLocked()
			d.mu.Unlock()
		}
		count, err := d.dp.ConntrackCount()
		limit, lerr := d.dp.ConntrackLimit()
		if err = errors.Join(err, lerr); err != nil {
			d.log.Error("reading the conntrack table's count and limit", "err", err)
			continue
		}
		full := count >= int64(limit)
		switch {
		case full && !wasFull:
			d.log.Warn("the conntrack table is full: new flows are dropped (ct-full) until tracked ones end", "flows", count, "limit", limit)
		case !full && wasFull:
			d.log.Info("the conntrack table has room again", "flows", count, "limit", limit)
		}
		wasFull = full
	}
}

// warnConntrackOvercommit says so when the instances there are hold more of the conntrack table
// than it has: a daemon restarted with a smaller --conntrack-max. They keep running; new ones are
// refused until enough end, and until then floods may fill the table (ct-full).
func (d *Daemon) warnConntrackOvercommit() {
	d.mu.Lock()
	limit, reserved, err := d.conntrackReservedLocked()
	d.mu.Unlock()
	if err != nil {
		d.log.Error("reading the conntrack table's limit", "err", err)
		return
	}
	if reserved > limit {
		d.log.Warn("the instances' conntrack allowances add up to more than --conntrack-max: new instances are refused until some end, and a flood may fill the table meanwhile", "reserved", reserved, "limit", limit)
	}
}
