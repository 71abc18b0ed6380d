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
