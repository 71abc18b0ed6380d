package daemon

import (
	"errors"
	"fmt"
	"net"
	"os"

	"github.com/hostd/hostd/hostd/api"
	"github.com/hostd/hostd/hostd/cgroup"
	"github.com/hostd/hostd/hostd/guest"
	"github.com/hostd/hostd/hostd/state"
	"github.com/hostd/hostd/memscrub"
	"github.com/hostd/hostd/vnet"
)

// recover rebuilds the daemon's view from its state file after a restart, clean or not:
// running instances are adopted, half-launched ones removed, and whatever on the host carries
// this daemon's name but no live record (cgroups, id ranges, instance files) is cleaned up.
func (d *Daemon) recover() error {
	if err := d.loadNetwork(); err != nil {
		return err
	}
	recs, err := d.store.Instances()
	if err != nil {
		return err
	}
	for _, rec := range recs {
		in := &instance{rec: rec}
		switch rec.Phase {
		case state.Launching:
			d.log.Warn("removing an instance whose launch was interrupted", "instance", rec.ID)
			if err := d.store.DeleteInstance(rec.ID); err != nil {
				return err
			}
			continue // its cgroup, files and id range are orphans now, removed below
		case state.Running:
			d.adopt(in)
		}
		d.instances[rec.ID] = in
	}
	d.removeOrphans()
	d.removeNetworkOrphans()
	if err := d.rebuildFirewallLocked(); err != nil {
		return fmt.Errorf("loading the firewall's rules into the datapath: %w", err)
	}
	d.pruneTombstonesLocked()
	return nil
}

func (d *Daemon) loadNetwork() error {
	return errors.Join(
		loadInto(d.vpcs, d.store.VPCs, func(v *state.VPC) string { return v.ID }),
		loadInto(d.subnets, d.store.Subnets, func(s *state.Subnet) string { return s.ID }),
		loadInto(d.enis, d.store.ENIs, func(e *state.ENI) string { return e.InstanceID }),
		loadInto(d.groups, d.store.Groups, func(g *state.SecurityGroup) string { return g.ID }),
		loadInto(d.acls, d.store.ACLs, func(a *state.NetworkACL) string { return a.ID }),
		loadInto(d.tags, d.store.AllTags, func(t *state.Tags) string { return t.ResourceID }),
		loadInto(d.flowLogs, d.store.FlowLogs, func(f *state.FlowLog) string { return f.ID }),
	)
}

// loadInto puts the records list returns into m, under their key.
func loadInto[T any](m map[string]*T, list func() ([]*T, error), key func(*T) string) error {
	records, err := list()
	if err != nil {
		return err
	}
	for _, r := range records {
		m[key(r)] = r
	}
	return nil
}

// removeNetworkOrphans drops interface records of instances that are gone, and whatever the
// fabric and the datapath hold for interfaces no running instance has: veths, pinned links, map
// entries.
func (d *Daemon) removeNetworkOrphans() {
	for id, e := range d.enis {
		if !d.holds(id, false) {
			d.log.Warn("removing an orphaned interface record", "eni", e.ID, "instance", id)
			_ = d.store.DeleteENI(e.ID)
			delete(d.enis, id)
		}
	}
	live := map[string]bool{}
	keep := map[int]bool{}
	for id, e := range d.enis {
		if !d.holds(id, true) {
			continue
		}
		live[e.HostIfName] = true
		if v := d.vpcs[e.VpcID]; v != nil {
			keep[d.dp.IfindexOf(net.ParseIP(e.IP), v.Number)] = true
		}
	}
	names, err := d.fabric.HostInterfaces()
	if err != nil {
		d.log.Error("listing the fabric's interfaces", "err", err)
	}
	for _, name := range names {
		if !live[name] {
			d.log.Warn("removing an orphaned interface", "interface", name)
			_ = d.fabric.DeleteInterface(name)
		}
	}
	for _, name := range d.dp.AttachedInterfaces() {
		if !live[name] {
			d.dp.Detach(name)
		}
	}
	d.dp.DeleteStale(keep)
}

// adopt takes over a running instance an earlier daemon launched, or marks it stopped if its
// init is gone.
func (d *Daemon) adopt(in *instance) {
	rec := in.rec
	group, gerr := cgroup.Load(d.cgroupPath(rec.ID))
	if gerr == nil {
		in.group = group
	}
	proc, perr := d.launcher.Adopt(rec.ID, rec.Pid, rec.PidStart)
	if perr != nil || gerr != nil {
		if proc != nil { // no cgroup to hold it by: it goes
			proc.Kill()
			proc.Close()
		}
		d.stopLocked(in, "the instance ended while the daemon was down")
		return
	}
	in.proc = proc
	go d.watch(in, proc)
	d.log.Info("adopted running instance", "instance", rec.ID, "pid", rec.Pid)
}

// holds tells whether an instance holds host resources (a cgroup while running; files and an id
// range until terminated).
func (d *Daemon) holds(id string, running bool) bool {
	in, ok := d.instances[id]
	if !ok {
		return false
	}
	if running {
		return in.rec.Phase == state.Running
	}
	return in.rec.Phase != state.Terminated
}

func (d *Daemon) removeOrphans() {
	children, err := cgroup.Children(d.cgroupParent())
	if err != nil {
		d.log.Error("listing cgroups", "err", err)
	}
	for _, id := range children {
		if d.holds(id, true) {
			continue
		}
		d.log.Warn("removing an orphaned cgroup", "cgroup", d.cgroupPath(id))
		if g, err := cgroup.Load(d.cgroupPath(id)); err == nil {
			if err := g.Kill(); err != nil {
				d.log.Error("killing an orphaned cgroup", "cgroup", d.cgroupPath(id), "err", err)
			}
			_ = g.Delete()
		}
	}
	held, err := d.ids.Held()
	if err != nil {
		d.log.Error("listing id ranges", "err", err)
	}
	for slot, id := range held {
		if !d.holds(id, false) {
			d.log.Warn("releasing an orphaned id range", "slot", slot, "instance", id)
			d.ids.Release(slot)
		}
	}
	entries, _ := os.ReadDir(d.launcher.RunDir)
	for _, e := range entries {
		if !d.holds(e.Name(), false) {
			d.log.Warn("removing orphaned instance files", "instance", e.Name())
			_ = os.RemoveAll(d.launcher.InstanceDir(e.Name()))
		}
	}
	for _, id := range d.launcher.InstancesWithFiles() {
		if !d.holds(id, false) {
			_ = d.launcher.RemoveFiles(id)
		}
	}
}

// Teardown removes everything a daemon made: it terminates all instances and deletes the fabric
// namespace and the daemon's cgroup level. The daemon must be stopped first. The state file stays,
// with every instance in it terminated.
func Teardown(cfg Config) error {
	if c, err := net.Dial("unix", cfg.Socket); err == nil {
		c.Close()
		return api.Errorf(api.CodeIncorrectInstanceState, "a daemon is still serving on %s; stop it (SIGTERM) before teardown", cfg.Socket)
	}
	d, err := Open(cfg)
	if errors.Is(err, vnet.ErrStaleDatapath) {
		// An older hostd's datapath: its pins go first (its programs stay on the interfaces
		// until the instances' veths go with them below).
		if err := vnet.DeleteDatapath(cfg.Fabric); err != nil {
			return err
		}
		d, err = Open(cfg)
	}
	if err != nil {
		return err
	}
	var ids []string
	d.mu.Lock()
	for id, in := range d.instances {
		if in.rec.Phase != state.Terminated {
			ids = append(ids, id)
		}
	}
	d.mu.Unlock()
	var errs []error
	if len(ids) > 0 {
		if _, err := d.TerminateInstances(api.Operator, ids); err != nil {
			errs = append(errs, err)
		}
	}
	errs = append(errs, d.Close())
	if err := memscrub.UnmountPoolDir(d.ramDir()); err != nil {
		errs = append(errs, fmt.Errorf("unmounting the RAM pool: %w", err))
	}
	if err := guest.UnmountFilesDir(d.launcher.FilesDir); err != nil {
		errs = append(errs, fmt.Errorf("unmounting the guests' files: %w", err))
	}
	if err := os.Remove(cfg.Socket); err != nil && !errors.Is(err, os.ErrNotExist) {
		errs = append(errs, err)
	}
	cgroup.RemoveEmpty(d.cgroupParent(), "hostd")
	if err := vnet.DeleteDatapath(cfg.Fabric); err != nil {
		errs = append(errs, fmt.Errorf("deleting the datapath's pins: %w", err))
	}
	if err := vnet.DeleteServices(cfg.Fabric); err != nil {
		errs = append(errs, fmt.Errorf("deleting the services' namespace: %w", err))
	}
	if err := vnet.DeleteFabric(cfg.Fabric); err != nil {
		errs = append(errs, fmt.Errorf("deleting the fabric: %w", err))
	}
	d.log.Info("teardown done", "terminated", len(ids))
	return errors.Join(errs...)
}
