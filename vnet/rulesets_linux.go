package vnet

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"slices"
	"sync"

	"github.com/cilium/ebpf"

	"github.com/hostd/hostd/bpf"
	"github.com/hostd/hostd/firewall"
)

// ruleSets records the rule sets and identities this process wrote, to extend and delete them.
type ruleSets struct {
	mu   sync.Mutex
	next uint32              // the last rule set number given
	sets map[uint32]*ruleSet // by number
	// entries counts the rule map entries of each VPC's sets, against MaxVPCRuleEntries.
	entries map[uint32]int
	// Identities number the combinations of groups that interfaces are in, per VPC.
	nextIdentity  uint32
	identities    map[identityKey]*identity
	ifaceIdentity map[int]identityKey // by host-end ifindex
	// retire queues deletions for the retirer, which runs them once the packets that may still
	// read what they delete are gone; retired is closed when it has stopped.
	retire  chan func()
	retired chan struct{}
	// barrier is a map of maps: updating it returns only after every BPF program running at the
	// time has returned (the kernel waits for an RCU grace period, maybe_wait_bpf_programs).
	barrier, barrierInner *ebpf.Map
}

// identityKey is a combination of groups in a VPC: their numbers, sorted, 0 after the last.
type identityKey struct {
	vpc    uint32
	groups [maxGroups]uint32
}

const maxGroups = len(bpf.DatapathEndpoint{}.Groups)

func (k identityKey) list() []uint32 {
	n := slices.Index(k.groups[:], 0)
	if n < 0 {
		n = len(k.groups)
	}
	return k.groups[:n]
}

type identity struct {
	number uint32
	users  map[int]bool // host-end ifindexes
}

// waitForPackets returns once every packet the datapath was judging when it was called has been
// judged: a packet that read a replaced rule set's number has finished with its entries.
func (dp *Datapath) waitForPackets() error {
	return dp.rules.barrier.Put(uint32(0), dp.rules.barrierInner)
}

// initRuleSets picks rule set numbers above any already in the maps and takes the identities
// the pinned endpoints carry.
func (dp *Datapath) initRuleSets() error {
	r := &dp.rules
	r.sets, r.entries = map[uint32]*ruleSet{}, map[uint32]int{}
	r.identities, r.ifaceIdentity = map[identityKey]*identity{}, map[int]identityKey{}
	inner := &ebpf.MapSpec{Type: ebpf.Array, KeySize: 4, ValueSize: 4, MaxEntries: 1}
	var err error
	if r.barrierInner, err = ebpf.NewMap(inner); err != nil {
		return fmt.Errorf("creating the datapath's barrier: %w", err)
	}
	if r.barrier, err = ebpf.NewMap(&ebpf.MapSpec{Type: ebpf.ArrayOfMaps, KeySize: 4, ValueSize: 4, MaxEntries: 1, InnerMap: inner}); err != nil {
		return fmt.Errorf("creating the datapath's barrier: %w", err)
	}
	r.retire, r.retired = make(chan func(), 1024), make(chan struct{})
	go dp.retirer()
	dp.forEachRuleKey(func(set uint32, _ func() error) { r.next = max(r.next, set) })
	// A restarted daemon's new rule sets name the identities the interfaces already carry, so
	// that old and new sets agree while interfaces move from one to the other.
	var key bpf.DatapathEndpointKey
	var ep bpf.DatapathEndpoint
	for it := dp.maps.Endpoints.Iterate(); it.Next(&key, &ep); {
		if ep.Identity == 0 {
			continue
		}
		ik := identityKey{vpc: key.Vpc, groups: ep.Groups}
		id := r.identities[ik]
		if id == nil {
			id = &identity{number: ep.Identity, users: map[int]bool{}}
			r.identities[ik] = id
		}
		id.users[int(ep.Ifindex)] = true
		r.ifaceIdentity[int(ep.Ifindex)] = ik
		r.nextIdentity = max(r.nextIdentity, ep.Identity)
	}
	return nil
}

// LoadPolicy writes the union of groups' rules, for interfaces of VPC vpc, as a new rule set
// and returns its handle, for Interface.Policy. Nothing uses it until an interface is set to it.
func (dp *Datapath) LoadPolicy(vpc uint32, groups []*firewall.SecurityGroup, number GroupNumber) (uint32, error) {
	return dp.load(vpc, func(n uint32) *ruleSet { return compilePolicy(n, groups, number) }, true)
}

// LoadACL writes a network ACL of VPC vpc as a new rule set and returns its handle, for
// SetSubnetACL.
func (dp *Datapath) LoadACL(vpc uint32, acl *firewall.NetworkACL) (uint32, error) {
	return dp.load(vpc, func(n uint32) *ruleSet { return compileACL(n, acl) }, false)
}

// MaxVPCRuleEntries bounds the rule map entries of one VPC's rule sets together (the policies
// of its interfaces' combinations of groups, with their identities' rows, and its ACLs): the rule
// maps are shared by every tenant, and no tenant's rules may fill them. EC2's limits (5 groups
// of 60 rules per direction, 20 ACL entries) compile to a few thousand entries per set unless
// CIDRs nest deeply and port ranges are many and ragged.
const MaxVPCRuleEntries = 1 << 17

// ErrRuleEntriesExceeded refuses rules that would take a VPC past MaxVPCRuleEntries.
var ErrRuleEntriesExceeded = errors.New("the VPC's security groups and network ACLs would compile to more datapath entries than a VPC may have")

// claimEntries counts n more entries for vpc, or refuses them.
func (r *ruleSets) claimEntries(vpc uint32, n int) error {
	if r.entries[vpc]+n > MaxVPCRuleEntries {
		return fmt.Errorf("%w (%d in use, %d more asked, at most %d): use fewer nested CIDRs, fewer and wider port ranges, or fewer distinct combinations of groups on interfaces",
			ErrRuleEntriesExceeded, r.entries[vpc], n, MaxVPCRuleEntries)
	}
	r.entries[vpc] += n
	return nil
}

func (dp *Datapath) load(vpc uint32, compile func(number uint32) *ruleSet, policy bool) (uint32, error) {
	r := &dp.rules
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.next == setNumber {
		return 0, fmt.Errorf("no rule set number is left: restart the daemon, which numbers its sets afresh")
	}
	r.next++
	rs := compile(r.next)
	rs.vpc = vpc
	if policy {
		for key, id := range r.identities {
			if key.vpc == vpc {
				rs.addIdentity(id.number, key.list())
			}
		}
	}
	if err := r.claimEntries(vpc, rs.size()); err != nil {
		return 0, err
	}
	// The rows before the classes that lead to them.
	err := putAll(dp, dp.maps.RulePorts, rs.ports)
	if err == nil {
		err = putAll(dp, dp.maps.RuleClasses, rs.classes)
	}
	if err != nil {
		dp.deleteEntries(rs)
		r.entries[vpc] -= rs.size()
		return 0, fmt.Errorf("writing rule set %d: %w", rs.number(), err)
	}
	if !policy {
		rs.byGroup = [2]map[uint32][]firewall.Rule{} // an ACL takes no identity rows
	}
	r.sets[rs.number()] = rs
	return rs.handle, nil
}

func putAll[K comparable, V any](dp *Datapath, m *ebpf.Map, entries map[K]V) error {
	for k, v := range entries {
		if err := dp.put(m, k, v); err != nil {
			return err
		}
	}
	return nil
}

// identityFor returns the identity of a combination of groups in vpc for the interface whose host
// end is ifindex, numbering it (and writing its rows into the VPC's policies) the first time.
// 0 is no group at all. The interface counts as one of its users from now; settleIdentity ends
// its use of the one it had before.
func (dp *Datapath) identityFor(ifindex int, vpc uint32, groups []uint32) (identityKey, uint32, error) {
	if len(groups) == 0 {
		return identityKey{}, 0, nil
	}
	if len(groups) > maxGroups {
		return identityKey{}, 0, fmt.Errorf("an interface is in at most %d groups", maxGroups)
	}
	key := identityKey{vpc: vpc}
	copy(key.groups[:], groups)
	slices.Sort(key.groups[:len(groups)])
	r := &dp.rules
	r.mu.Lock()
	defer r.mu.Unlock()
	if id := r.identities[key]; id != nil {
		id.users[ifindex] = true
		return key, id.number, nil
	}
	number := r.nextIdentity + 1
	var written []*ruleSet
	undo := func(err error) (identityKey, uint32, error) {
		for _, w := range written {
			dp.deleteIdentityRows(w, number)
		}
		return identityKey{}, 0, err
	}
	for _, rs := range r.sets {
		if rs.vpc != vpc || rs.byGroup[0] == nil {
			continue
		}
		rows := rs.addIdentity(number, key.list())
		written = append(written, rs)
		if err := r.claimEntries(vpc, len(rows)); err != nil {
			delete(rs.identityRows, number)
			for _, k := range rows {
				delete(rs.ports, k)
			}
			return undo(err)
		}
		for _, k := range rows {
			if err := dp.put(dp.maps.RulePorts, k, rs.ports[k]); err != nil {
				return undo(fmt.Errorf("writing the rules of a new combination of groups: %w", err))
			}
		}
	}
	r.nextIdentity = number
	r.identities[key] = &identity{number: number, users: map[int]bool{ifindex: true}}
	return key, number, nil
}

// settleIdentity records that the interface whose host end is ifindex now has the identity of
// key (the zero key: none) and ends its use of any other. An identity that no interface uses
// any more has its rows deleted once no packet can be reading them.
func (dp *Datapath) settleIdentity(ifindex int, key identityKey) {
	r := &dp.rules
	r.mu.Lock()
	old, had := r.ifaceIdentity[ifindex]
	if key == (identityKey{}) {
		delete(r.ifaceIdentity, ifindex)
	} else {
		r.ifaceIdentity[ifindex] = key
	}
	var unused func()
	if had && old != key {
		unused = dp.leaveIdentityLocked(ifindex, old)
	}
	r.mu.Unlock()
	dp.retireIdentity(unused)
}

// abandonIdentity undoes identityFor when the interface could not be set to key.
func (dp *Datapath) abandonIdentity(ifindex int, key identityKey) {
	r := &dp.rules
	r.mu.Lock()
	var unused func()
	if key != (identityKey{}) && r.ifaceIdentity[ifindex] != key {
		unused = dp.leaveIdentityLocked(ifindex, key)
	}
	r.mu.Unlock()
	dp.retireIdentity(unused)
}

// leaveIdentityLocked ends the interface's use of the identity of key. If no interface uses it
// any more it returns the deletion of its rows, for retireIdentity once the lock is let go (the
// retirer takes the lock to run it).
func (dp *Datapath) leaveIdentityLocked(ifindex int, key identityKey) func() {
	r := &dp.rules
	id := r.identities[key]
	if id == nil {
		return nil
	}
	delete(id.users, ifindex)
	if len(id.users) > 0 {
		return nil
	}
	delete(r.identities, key)
	return func() {
		r.mu.Lock()
		defer r.mu.Unlock()
		for _, rs := range r.sets {
			dp.deleteIdentityRows(rs, id.number)
		}
	}
}

func (dp *Datapath) retireIdentity(deleteRows func()) {
	if deleteRows != nil {
		dp.rules.retire <- deleteRows
	}
}

// deleteIdentityRows deletes an identity's rows from a set; the caller holds the lock.
func (dp *Datapath) deleteIdentityRows(rs *ruleSet, identity uint32) {
	for _, k := range rs.identityRows[identity] {
		_ = dp.maps.RulePorts.Delete(k)
		delete(rs.ports, k)
	}
	dp.rules.entries[rs.vpc] -= len(rs.identityRows[identity])
	delete(rs.identityRows, identity)
}

// RetireRuleSet deletes a rule set no interface or subnet uses any more, once the packets that
// may have read its handle have been judged. It returns at once; Close waits for it.
func (dp *Datapath) RetireRuleSet(handle uint32) {
	if handle == 0 {
		return
	}
	dp.rules.retire <- func() { dp.DeleteRuleSet(handle) }
}

// retirer runs retired deletions in batches, one grace period for all that came meanwhile.
func (dp *Datapath) retirer() {
	defer close(dp.rules.retired)
	for del := range dp.rules.retire {
		batch := []func(){del}
		for more := true; more; {
			select {
			case d, ok := <-dp.rules.retire:
				if ok {
					batch = append(batch, d)
				} else {
					more = false
				}
			default:
				more = false
			}
		}
		// Without a grace period the entries stay: a restarted daemon drops every set it does
		// not use.
		if dp.waitForPackets() == nil {
			for _, d := range batch {
				d()
			}
		}
	}
}

// stopRetirer runs what is queued and stops the retirer.
func (dp *Datapath) stopRetirer() {
	if dp.rules.retire != nil {
		close(dp.rules.retire)
		<-dp.rules.retired
		dp.rules.retire = nil
	}
}

// DeleteRuleSet deletes a rule set at once.
func (dp *Datapath) DeleteRuleSet(handle uint32) {
	dp.rules.mu.Lock()
	defer dp.rules.mu.Unlock()
	rs := dp.rules.sets[handle&setNumber]
	if rs == nil {
		return
	}
	delete(dp.rules.sets, handle&setNumber)
	dp.rules.entries[rs.vpc] -= rs.size()
	dp.deleteEntries(rs)
}

func (dp *Datapath) deleteEntries(rs *ruleSet) {
	deleteAll(dp.maps.RuleClasses, rs.classes)
	deleteAll(dp.maps.RulePorts, rs.ports)
}

func deleteAll[K comparable, V any](m *ebpf.Map, entries map[K]V) {
	for k := range entries {
		_ = m.Delete(k)
	}
}

// forEachRuleKey calls fn with the rule set number of every entry of the rule maps, and a
// function that deletes that entry.
func (dp *Datapath) forEachRuleKey(fn func(set uint32, del func() error)) {
	eachKey(dp.maps.RuleClasses, func(k bpf.DatapathRuleClassKey, _ uint32) uint32 { return k.Set & setNumber }, fn)
	eachKey(dp.maps.RulePorts, func(k bpf.DatapathRulePortKey, _ bpf.DatapathRulePortBits) uint32 { return k.Set & setNumber }, fn)
}

// eachKey collects m's keys first, so that fn may delete them.
func eachKey[K, V any](m *ebpf.Map, setOf func(K, V) uint32, fn func(set uint32, del func() error)) {
	var k K
	var v V
	var keys []K
	var sets []uint32
	for it := m.Iterate(); it.Next(&k, &v); {
		keys, sets = append(keys, k), append(sets, setOf(k, v))
	}
	for i, key := range keys {
		fn(sets[i], func() error { return m.Delete(key) })
	}
}

// DeleteRuleSetsExcept deletes every rule set not in keep (handles), also those an earlier
// daemon wrote: a restarted daemon compiles its rules afresh and drops the rest.
func (dp *Datapath) DeleteRuleSetsExcept(keep map[uint32]bool) {
	numbers := map[uint32]bool{}
	for h := range keep {
		numbers[h&setNumber] = true
	}
	dp.forEachRuleKey(func(set uint32, del func() error) {
		if !numbers[set] {
			_ = del()
		}
	})
	dp.rules.mu.Lock()
	for n, rs := range dp.rules.sets {
		if !numbers[n] {
			delete(dp.rules.sets, n)
			dp.rules.entries[rs.vpc] -= rs.size()
		}
	}
	dp.rules.mu.Unlock()
}

// MaxSubnets is how many subnets the datapath tells apart: subnet numbers are below it.
const MaxSubnets = 1 << 16

// SetSubnetACL makes the rule set whose handle is acl the network ACL of subnet number subnet,
// in one update.
func (dp *Datapath) SetSubnetACL(subnet, acl uint32) error {
	if subnet >= MaxSubnets {
		return fmt.Errorf("subnet number %d: the datapath takes fewer than %d subnets", subnet, MaxSubnets)
	}
	return dp.put(dp.maps.SubnetAcls, subnet, acl)
}

// DeleteSubnetACL forgets subnet's ACL: its traffic in and out is denied.
func (dp *Datapath) DeleteSubnetACL(subnet uint32) {
	if subnet < MaxSubnets {
		_ = dp.put(dp.maps.SubnetAcls, subnet, uint32(0))
	}
}

// SetPolicy points the interface whose host end is ifindex at another rule set, keeping the rest
// of its entry.
func (dp *Datapath) SetPolicy(ifindex int, policy uint32) error {
	var iface bpf.DatapathIface
	if err := dp.maps.Ifaces.Lookup(uint32(ifindex), &iface); err != nil {
		return fmt.Errorf("no interface %d in the datapath: %w", ifindex, err)
	}
	key := bpf.DatapathEndpointKey{Vpc: iface.Vpc, Ip: iface.Ip}
	var ep bpf.DatapathEndpoint
	if err := dp.maps.Endpoints.Lookup(key, &ep); err != nil {
		return err
	}
	ep.Policy, iface.Policy = policy, policy
	if err := dp.put(dp.maps.Endpoints, key, ep); err != nil {
		return err
	}
	return dp.put(dp.maps.Ifaces, uint32(ifindex), iface)
}

// PolicyOf returns the VPC of the interface whose host end is ifindex, and the rule set it
// points at.
func (dp *Datapath) PolicyOf(ifindex int) (vpc, policy uint32, err error) {
	var iface bpf.DatapathIface
	err = dp.maps.Ifaces.Lookup(uint32(ifindex), &iface)
	return iface.Vpc, iface.Policy, err
}

// IfindexOfMAC returns the host-end ifindex of the interface whose guest has mac, or 0.
func (dp *Datapath) IfindexOfMAC(mac net.HardwareAddr) int {
	var ifindex uint32
	var iface bpf.DatapathIface
	for it := dp.maps.Ifaces.Iterate(); it.Next(&ifindex, &iface); {
		if bytes.Equal(iface.Mac[:], mac) {
			return int(ifindex)
		}
	}
	return 0
}
