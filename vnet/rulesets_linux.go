package vnet

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"sync"

	"github.com/cilium/ebpf"

	"github.com/hostd/hostd/bpf"
	"github.com/hostd/hostd/firewall"
)

// ruleSets records what each rule set written by this process holds, to delete it by its keys.
type ruleSets struct {
	mu   sync.Mutex
	next uint32
	sets map[uint32]*ruleSet
	// retire queues replaced sets for the retirer, which deletes them once the packets that may
	// still read them are gone; retired is closed when it has stopped.
	retire  chan uint32
	retired chan struct{}
	// barrier is a map of maps: updating it returns only after every BPF program running at the
	// time has returned (the kernel waits for an RCU grace period, maybe_wait_bpf_programs).
	barrier, barrierInner *ebpf.Map
}

// waitForPackets returns once every packet the datapath was judging when it was called has been
// judged: a packet that read a replaced rule set's number has finished with its entries.
func (dp *Datapath) waitForPackets() error {
	return dp.rules.barrier.Put(uint32(0), dp.rules.barrierInner)
}

// initFirewall picks rule set numbers above any already in the maps and sets the conntrack
// limit of a fresh datapath.
func (dp *Datapath) initFirewall() error {
	dp.rules.sets = map[uint32]*ruleSet{}
	inner := &ebpf.MapSpec{Type: ebpf.Array, KeySize: 4, ValueSize: 4, MaxEntries: 1}
	var err error
	if dp.rules.barrierInner, err = ebpf.NewMap(inner); err != nil {
		return fmt.Errorf("creating the datapath's barrier: %w", err)
	}
	if dp.rules.barrier, err = ebpf.NewMap(&ebpf.MapSpec{Type: ebpf.ArrayOfMaps, KeySize: 4, ValueSize: 4, MaxEntries: 1, InnerMap: inner}); err != nil {
		return fmt.Errorf("creating the datapath's barrier: %w", err)
	}
	dp.rules.retire, dp.rules.retired = make(chan uint32, 1024), make(chan struct{})
	go dp.retirer()
	dp.forEachRuleKey(func(set uint32, _ func() error) { dp.rules.next = max(dp.rules.next, set) })
	var cfg bpf.DatapathConfig
	if err := dp.maps.Settings.Lookup(uint32(0), &cfg); err != nil {
		return err
	}
	if cfg.CtLimit == 0 {
		return dp.SetConntrackLimit(DefaultConntrackLimit)
	}
	return nil
}

// LoadPolicy writes the union of groups' rules as a new rule set and returns its number, for
// Interface.Policy. Nothing uses it until an interface is set to it.
func (dp *Datapath) LoadPolicy(groups []*firewall.SecurityGroup, number GroupNumber) (uint32, error) {
	return dp.load(func(set uint32) *ruleSet { return compilePolicy(set, groups, number) })
}

// LoadACL writes a network ACL as a new rule set and returns its number, for SetSubnetACL.
func (dp *Datapath) LoadACL(acl *firewall.NetworkACL) (uint32, error) {
	return dp.load(func(set uint32) *ruleSet { return compileACL(set, acl) })
}

// MaxRuleSetEntries bounds the map entries of one rule set: the rule maps are shared by every
// tenant, so that no tenant's rules may fill them. EC2's limits (5 groups of 60 rules per direction)
// compile to far fewer entries unless CIDRs nest deeply and port ranges are many and ragged.
const MaxRuleSetEntries = 1 << 18

// ErrRuleSetTooLarge is a rule set over MaxRuleSetEntries.
var ErrRuleSetTooLarge = errors.New("the rules compile to more datapath entries than one rule set may have")

func (dp *Datapath) load(compile func(set uint32) *ruleSet) (uint32, error) {
	dp.rules.mu.Lock()
	dp.rules.next++
	set := dp.rules.next
	dp.rules.mu.Unlock()
	rs := compile(set)
	if n := rs.size(); n > MaxRuleSetEntries {
		return 0, fmt.Errorf("%w (%d, at most %d): use fewer nested CIDRs or fewer, wider port ranges", ErrRuleSetTooLarge, n, MaxRuleSetEntries)
	}
	// The blocks and verdicts before the classes that lead to them.
	err := putAll(dp.maps.RuleBuckets, rs.buckets)
	if err == nil {
		err = putAll(dp.maps.RuleProtos, rs.protos)
	}
	if err == nil {
		err = putAll(dp.maps.RuleAddrs, rs.addrs)
	}
	if err == nil {
		err = putAll(dp.maps.RuleLengths, rs.lengths)
	}
	if err != nil {
		dp.deleteEntries(rs)
		return 0, fmt.Errorf("writing rule set %d: %w", set, err)
	}
	dp.rules.mu.Lock()
	dp.rules.sets[set] = rs
	dp.rules.mu.Unlock()
	return set, nil
}

func putAll[K comparable, V any](m *ebpf.Map, entries map[K]V) error {
	for k, v := range entries {
		if err := m.Put(k, v); err != nil {
			return err
		}
	}
	return nil
}

// RetireRuleSet deletes a rule set no interface or subnet uses any more, once the packets that
// may have read its number have been judged. It returns at once; Close waits for it.
func (dp *Datapath) RetireRuleSet(set uint32) {
	if set == 0 {
		return
	}
	dp.rules.retire <- set
}

// retirer deletes retired rule sets in batches, one grace period for all that came meanwhile.
func (dp *Datapath) retirer() {
	defer close(dp.rules.retired)
	for set := range dp.rules.retire {
		batch := []uint32{set}
		for more := true; more; {
			select {
			case s, ok := <-dp.rules.retire:
				if ok {
					batch = append(batch, s)
				} else {
					more = false
				}
			default:
				more = false
			}
		}
		// Without a grace period the sets stay: a restarted daemon drops every set it does not use.
		if dp.waitForPackets() == nil {
			for _, s := range batch {
				dp.DeleteRuleSet(s)
			}
		}
	}
}

// stopRetirer deletes what is queued and stops the retirer.
func (dp *Datapath) stopRetirer() {
	if dp.rules.retire != nil {
		close(dp.rules.retire)
		<-dp.rules.retired
		dp.rules.retire = nil
	}
}

// DeleteRuleSet deletes a rule set at once.
func (dp *Datapath) DeleteRuleSet(set uint32) {
	dp.rules.mu.Lock()
	rs := dp.rules.sets[set]
	delete(dp.rules.sets, set)
	dp.rules.mu.Unlock()
	if rs != nil {
		dp.deleteEntries(rs)
	}
}

func (dp *Datapath) deleteEntries(rs *ruleSet) {
	deleteAll(dp.maps.RuleLengths, rs.lengths)
	deleteAll(dp.maps.RuleAddrs, rs.addrs)
	deleteAll(dp.maps.RuleProtos, rs.protos)
	deleteAll(dp.maps.RuleBuckets, rs.buckets)
}

func deleteAll[K comparable, V any](m *ebpf.Map, entries map[K]V) {
	for k := range entries {
		_ = m.Delete(k)
	}
}

// forEachRuleKey calls fn with the rule set of every entry of the four rule maps, and a function
// that deletes that entry.
func (dp *Datapath) forEachRuleKey(fn func(set uint32, del func() error)) {
	eachKey(dp.maps.RuleLengths, func(k bpf.DatapathRuleLengthsKey, _ bpf.DatapathPrefixLengths) uint32 { return k.Set }, fn)
	eachKey(dp.maps.RuleAddrs, func(k bpf.DatapathRuleAddrKey, _ uint32) uint32 { return k.Set }, fn)
	eachKey(dp.maps.RuleProtos, func(k bpf.DatapathRuleProtoKey, _ bpf.DatapathRuleProto) uint32 { return k.Set }, fn)
	eachKey(dp.maps.RuleBuckets, func(k bpf.DatapathRuleBucketKey, _ bpf.DatapathRuleBucket) uint32 { return k.Set }, fn)
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

// DeleteRuleSetsExcept deletes every rule set not in keep, also those an earlier daemon wrote:
// a restarted daemon compiles its rules afresh and drops the rest.
func (dp *Datapath) DeleteRuleSetsExcept(keep map[uint32]bool) {
	dp.forEachRuleKey(func(set uint32, del func() error) {
		if !keep[set] {
			_ = del()
		}
	})
	dp.rules.mu.Lock()
	for set := range dp.rules.sets {
		if !keep[set] {
			delete(dp.rules.sets, set)
		}
	}
	dp.rules.mu.Unlock()
}

// SetSubnetACL makes rule set acl the network ACL of subnet number subnet, in one update.
func (dp *Datapath) SetSubnetACL(subnet, acl uint32) error {
	return dp.maps.SubnetAcls.Put(subnet, acl)
}

// DeleteSubnetACL forgets subnet's ACL.
func (dp *Datapath) DeleteSubnetACL(subnet uint32) {
	_ = dp.maps.SubnetAcls.Delete(subnet)
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
	if err := dp.maps.Endpoints.Put(key, ep); err != nil {
		return err
	}
	return dp.maps.Ifaces.Put(uint32(ifindex), iface)
}

// PolicyOf returns the rule set the interface whose host end is ifindex points at.
func (dp *Datapath) PolicyOf(ifindex int) (uint32, error) {
	var iface bpf.DatapathIface
	err := dp.maps.Ifaces.Lookup(uint32(ifindex), &iface)
	return iface.Policy, err
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
