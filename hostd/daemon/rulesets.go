package daemon

import (
	"errors"
	"fmt"
	"maps"
	"net"
	"slices"

	"github.com/hostd/hostd/firewall"
	"github.com/hostd/hostd/hostd/api"
	"github.com/hostd/hostd/hostd/state"
	"github.com/hostd/hostd/vnet"
)

// ruleSets are the datapath's rule sets of the daemon's firewall: one per network ACL, and one per
// combination of groups that interfaces are in (a policy), by handle (vnet.Datapath.LoadACL,
// LoadPolicy). It owns their lifecycle, written once in applyLocked for groups and ACLs alike:
// a change compiles new sets, records itself, points the interfaces and subnets it concerns at
// the new sets one map update each, and retires the sets it replaced. No packet sees half a
// change, and a change that fails anywhere is undone: records and datapath as they were.
type ruleSets struct {
	acls     map[string]uint32   // by ACL id
	policies map[groupSet]uint32 // by the groups of the interfaces that use it
}

// groupSet is a combination of groups: their ids, sorted, "" after the last.
type groupSet [api.MaxGroupsPerENI]string

func groupSetOf(ids []string) groupSet {
	sorted := slices.Clone(ids)
	slices.Sort(sorted)
	var g groupSet
	copy(g[:], sorted)
	return g
}

func (g groupSet) ids() []string {
	n := slices.Index(g[:], "")
	if n < 0 {
		n = len(g)
	}
	return g[:n]
}

// ruleSetKey names a rule set: a network ACL's, or a combination of groups'.
type ruleSetKey struct {
	acl    string
	groups groupSet
}

func (r *ruleSets) handle(k ruleSetKey) (uint32, bool) {
	if k.acl != "" {
		h, ok := r.acls[k.acl]
		return h, ok
	}
	h, ok := r.policies[k.groups]
	return h, ok
}

// set makes handle (0: none) the rule set of k.
func (r *ruleSets) set(k ruleSetKey, handle uint32) {
	if r.acls == nil {
		r.acls, r.policies = map[string]uint32{}, map[groupSet]uint32{}
	}
	switch {
	case k.acl != "" && handle != 0:
		r.acls[k.acl] = handle
	case k.acl != "":
		delete(r.acls, k.acl)
	case handle != 0:
		r.policies[k.groups] = handle
	default:
		delete(r.policies, k.groups)
	}
}

// firewallChange is one change to the firewall, which applyLocked makes whole or not at all.
type firewallChange struct {
	// compile builds the rule sets the change needs, each taking the place of the one under its
	// key (if any).
	compile map[ruleSetKey]func() (uint32, error)
	// record saves the change (the store, then the daemon's records) and returns how to undo
	// that; on error it has saved nothing.
	record func() (undo func() error, err error)
	// interface and subnet pick what the change alters besides the users of the sets it
	// replaces (an interface's groups, its source/dest check, a subnet's ACL).
	iface  func(*state.ENI) bool
	subnet func(*state.Subnet) bool
}

// applyLocked makes c take effect: compile, record, repoint, retire. On failure everything is put
// back and the error returned.
func (d *Daemon) applyLocked(c firewallChange) error {
	fresh := map[ruleSetKey]uint32{}
	discard := func() {
		for _, h := range fresh {
			d.dp.DeleteRuleSet(h)
		}
	}
	for k, compile := range c.compile {
		h, err := compile()
		if err != nil {
			discard()
			return ruleSetError(err)
		}
		fresh[k] = h
	}
	unrecord := func() error { return nil }
	if c.record != nil {
		var err error
		if unrecord, err = c.record(); err != nil {
			discard()
			return err
		}
	}
	replaced := map[ruleSetKey]uint32{}
	for k, h := range fresh {
		replaced[k], _ = d.rules.handle(k)
		d.rules.set(k, h)
	}
	ifaces, subnets := d.affectedLocked(c, fresh)
	if err := d.repointLocked(ifaces, subnets); err != nil {
		for k, h := range replaced {
			d.rules.set(k, h)
		}
		err = errors.Join(err, unrecord())
		if rerr := d.repointLocked(ifaces, subnets); rerr != nil {
			d.log.Error("putting the datapath back after a failed change", "err", rerr)
			err = errors.Join(err, fmt.Errorf("and putting the datapath back failed too, so some interfaces may enforce the change while the records do not show it: %w", rerr))
		}
		discard()
		return err
	}
	for _, h := range replaced {
		d.dp.RetireRuleSet(h)
	}
	return nil
}

// affectedLocked lists the running interfaces and the subnets whose datapath entries c changes.
func (d *Daemon) affectedLocked(c firewallChange, fresh map[ruleSetKey]uint32) ([]*state.ENI, []*state.Subnet) {
	var ifaces []*state.ENI
	for _, e := range d.enis {
		_, uses := fresh[ruleSetKey{groups: groupSetOf(e.Groups)}]
		if uses || c.iface != nil && c.iface(e) {
			ifaces = append(ifaces, e)
		}
	}
	var subnets []*state.Subnet
	for _, s := range d.subnets {
		_, uses := fresh[ruleSetKey{acl: s.ACLID}]
		if uses || c.subnet != nil && c.subnet(s) {
			subnets = append(subnets, s)
		}
	}
	return ifaces, subnets
}

// repointLocked writes the datapath entries of the interfaces (those running) and subnets as the
// records and rule sets now say, one map update each.
func (d *Daemon) repointLocked(ifaces []*state.ENI, subnets []*state.Subnet) error {
	for _, s := range subnets {
		s = d.subnets[s.ID] // the record as it is now, which an undone change may have put back
		if err := d.dp.SetSubnetACL(s.Number, d.rules.acls[s.ACLID]); err != nil {
			return fmt.Errorf("pointing subnet %s at its network ACL: %w", s.ID, err)
		}
	}
	for _, e := range ifaces {
		ifindex := d.dp.IfindexOf(net.ParseIP(e.IP), d.vpcs[e.VpcID].Number)
		if ifindex == 0 {
			continue // not running
		}
		entry, err := d.datapathEntryLocked(d.enis[e.InstanceID]) // as it is now, as for subnets
		if err == nil {
			err = d.dp.SetInterface(ifindex, entry)
		}
		if err != nil {
			return fmt.Errorf("updating the firewall of interface %s: %w", e.ID, err)
		}
	}
	return nil
}

// ruleSetError tells the caller when rules compile to more than the datapath takes from a VPC.
func ruleSetError(err error) error {
	if errors.Is(err, vnet.ErrRuleEntriesExceeded) {
		return api.Errorf(api.CodeResourceLimitExceeded, "%v", err)
	}
	return err
}

// compilePolicyLocked is the compile step of the policy of groups, with override (if not nil) in
// place of the group of its id.
func (d *Daemon) compilePolicyLocked(groups groupSet, override *state.SecurityGroup) func() (uint32, error) {
	return func() (uint32, error) {
		var model []*firewall.SecurityGroup
		vpc := uint32(0)
		for _, id := range groups.ids() {
			g := d.groups[id]
			if override != nil && override.ID == id {
				g = override
			}
			if g == nil {
				continue
			}
			vpc = d.vpcs[g.VpcID].Number
			fg := &firewall.SecurityGroup{ID: g.ID}
			for _, r := range g.Ingress {
				fg.Ingress = append(fg.Ingress, r.Rule)
			}
			for _, r := range g.Egress {
				fg.Egress = append(fg.Egress, r.Rule)
			}
			model = append(model, fg)
		}
		return d.dp.LoadPolicy(vpc, model, d.groupNumber)
	}
}

// compileACLLocked is the compile step of a network ACL with the given entries.
func (d *Daemon) compileACLLocked(vpcID string, entries []firewall.ACLEntry) func() (uint32, error) {
	return func() (uint32, error) {
		return d.dp.LoadACL(d.vpcs[vpcID].Number, &firewall.NetworkACL{Entries: entries})
	}
}

// saveLocked writes rec under key, to the store (put) and to the daemon's records (m), and returns
// how to put back what was there before (remove, for a record that was not there).
func saveLocked[T any](m map[string]*T, key string, rec *T, put func(*T) error, remove func() error) (undo func() error, err error) {
	prev, had := m[key]
	if err := put(rec); err != nil {
		return nil, err
	}
	m[key] = rec
	return func() error {
		if had {
			m[key] = prev
			return put(prev)
		}
		delete(m, key)
		if remove == nil {
			return nil
		}
		return remove()
	}, nil
}

// prunePoliciesLocked retires the policies no interface uses any more.
func (d *Daemon) prunePoliciesLocked() {
	used := map[groupSet]bool{}
	for _, e := range d.enis {
		used[groupSetOf(e.Groups)] = true
	}
	for key, handle := range d.rules.policies {
		if !used[key] {
			delete(d.rules.policies, key)
			d.dp.RetireRuleSet(handle)
		}
	}
}

// rebuildFirewallLocked loads every ACL and the policies of running interfaces into the datapath
// afresh, points subnets and interfaces at them, and drops every other rule set (an earlier
// daemon's). Until each pointer moves, the old sets go on enforcing.
func (d *Daemon) rebuildFirewallLocked() error {
	for id, a := range d.acls {
		h, err := d.compileACLLocked(a.VpcID, a.Entries)()
		if err != nil {
			return fmt.Errorf("network ACL %s: %w", id, err)
		}
		d.rules.set(ruleSetKey{acl: id}, h)
	}
	var ifaces []*state.ENI
	for _, e := range d.enis {
		key := ruleSetKey{groups: groupSetOf(e.Groups)}
		if _, ok := d.rules.handle(key); !ok {
			h, err := d.compilePolicyLocked(key.groups, nil)()
			if err != nil {
				return fmt.Errorf("the groups of interface %s: %w", e.ID, err)
			}
			d.rules.set(key, h)
		}
		ifaces = append(ifaces, e)
	}
	if err := d.repointLocked(ifaces, slices.Collect(maps.Values(d.subnets))); err != nil {
		return err
	}
	keep := map[uint32]bool{}
	for _, h := range d.rules.acls {
		keep[h] = true
	}
	for _, h := range d.rules.policies {
		keep[h] = true
	}
	d.dp.DeleteRuleSetsExcept(keep)
	return nil
}
