package daemon

import (
	"github.com/hostd/hostd/hostd/api"
	"github.com/hostd/hostd/hostd/state"
)

// Quotas: each account may hold at most so many instances (not terminated), RAM-pool bytes
// (the regions of its running instances) and disk-store bytes (its volumes), so that no tenant
// can starve the others of the shared pools. A launch or a volume past them is refused before
// anything is taken. The operator's own account has none.

// usage is what an account holds, or is about to.
type usage struct {
	instances           int
	ramBytes, diskBytes int64
}

func (u usage) plus(v usage) usage {
	return usage{u.instances + v.instances, u.ramBytes + v.ramBytes, u.diskBytes + v.diskBytes}
}

// usage is what account id holds now.
func (d *Daemon) usage(id string) usage {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.usageLocked(id)
}

func (d *Daemon) usageLocked(id string) usage {
	u := d.pending[id]
	for _, in := range d.instances {
		if in.Owner() != id || in.rec.Phase == state.Terminated {
			continue
		}
		u.instances++
		if in.rec.Phase == state.Running {
			u.ramBytes += in.rec.RAMBytes
		}
	}
	for _, v := range d.volumes {
		if v.Owner() == id {
			u.diskBytes += v.Size
		}
	}
	return u
}

// claim holds room in an account's quotas for a launch or a volume being made, until it is
// recorded (doneLocked) or given up (release).
type claim struct {
	d       *Daemon
	account string
	u       usage
	done    bool
}

// claimQuota takes room for u in the quotas of account owner, or refuses with EC2's code.
func (d *Daemon) claimQuota(owner string, u usage) (*claim, error) {
	d.tenants.mu.RLock()
	a := d.tenants.accounts[owner]
	d.tenants.mu.RUnlock()
	c := &claim{d: d, account: owner, u: u}
	d.mu.Lock()
	defer d.mu.Unlock()
	if a != nil {
		now := d.usageLocked(owner)
		after := now.plus(u)
		switch {
		case u.instances > 0 && after.instances > a.MaxInstances:
			return nil, api.Errorf(api.CodeInstanceLimitExceeded, "account %s has %d of its %d instances; terminate some or ask the operator for more", owner, now.instances, a.MaxInstances)
		case u.ramBytes > 0 && after.ramBytes > a.MaxRAMBytes:
			return nil, api.Errorf(api.CodeInstanceLimitExceeded, "account %s holds %s of its %s of guest RAM; --ram %s does not fit", owner, api.FormatSize(now.ramBytes), api.FormatSize(a.MaxRAMBytes), api.FormatSize(u.ramBytes))
		case u.diskBytes > 0 && after.diskBytes > a.MaxDiskBytes:
			return nil, api.Errorf(api.CodeVolumeLimitExceeded, "account %s holds %s of its %s of volumes; %s does not fit", owner, api.FormatSize(now.diskBytes), api.FormatSize(a.MaxDiskBytes), api.FormatSize(u.diskBytes))
		}
	}
	if d.pending == nil {
		d.pending = map[string]usage{}
	}
	d.pending[owner] = d.pending[owner].plus(u)
	return c, nil
}

// doneLocked ends the claim once what it was for is in the records, which count it from then on.
func (c *claim) doneLocked() {
	if c.done {
		return
	}
	c.done = true
	left := c.d.pending[c.account].plus(usage{-c.u.instances, -c.u.ramBytes, -c.u.diskBytes})
	if left == (usage{}) {
		delete(c.d.pending, c.account)
	} else {
		c.d.pending[c.account] = left
	}
}

// release gives up a claim whose launch or volume failed; after doneLocked it does nothing.
func (c *claim) release() {
	c.d.mu.Lock()
	defer c.d.mu.Unlock()
	c.doneLocked()
}
