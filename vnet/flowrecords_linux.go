package vnet

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"time"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"github.com/hostd/hostd/bpf"
)

// Where a packet the firewall judged ended (flowlog.h's flow_stage).
const (
	FlowDelivered   = uint8(bpf.DatapathFlowStageFLOW_DELIVERED)
	FlowRejectedOut = uint8(bpf.DatapathFlowStageFLOW_REJECTED_OUT)
	FlowRejectedIn  = uint8(bpf.DatapathFlowStageFLOW_REJECTED_IN)
)

// FlowRecord is what the datapath counted of one flow between two interfaces, one way, in one
// generation: packets it judged, and where they ended.
type FlowRecord struct {
	Sender, Receiver int // host-end ifindexes
	Src, Dst         netip.Addr
	SrcPort, DstPort uint16
	Proto            uint8
	Stage            uint8
	Packets, Bytes   uint64
	First, Last      time.Time
}

// FlowSkip is what the datapath could not record between two interfaces (no room): counted, so
// that it is reported, never lost silently.
type FlowSkip struct {
	Sender, Receiver int
	Stage            uint8
	Packets, Bytes   uint64
}

// FlowDrain is one generation of flow records, as DrainFlowRecords hands it over. Its slices are
// reused by the next drain.
type FlowDrain struct {
	Records []FlowRecord
	Skips   []FlowSkip
	// Lost counts packets neither recorded nor counted as skipped (both maps full).
	Lost uint64

	keys    []bpf.DatapathFlowRecordKey
	skips   []bpf.DatapathFlowSkipKey
	perCPU  []bpf.DatapathFlowCounts
	lostCPU []uint64
}

func (dp *Datapath) initFlowRecords() error {
	var cfg bpf.DatapathConfig
	if err := dp.maps.Settings.Lookup(uint32(0), &cfg); err != nil {
		return err
	}
	if cfg.FlowLimit == 0 {
		return dp.SetFlowRecordLimit(dp.MaxFlowRecords())
	}
	return nil
}

// MaxFlowRecords is how many flow records (flowlog.h) one generation may hold, and holds unless
// told otherwise: half the map, so that both generations fit at once.
func (dp *Datapath) MaxFlowRecords() uint32 { return dp.maps.FlowRecords.MaxEntries() / 2 }

// SetFlowRecordLimit sets how many flow records one generation holds at most: tests make it tiny
// to see SKIPDATA.
func (dp *Datapath) SetFlowRecordLimit(limit uint32) error {
	if limit == 0 || limit > dp.MaxFlowRecords() {
		return fmt.Errorf("flow record limit %d: give 1 to %d", limit, dp.MaxFlowRecords())
	}
	return dp.updateSettings(func(c *bpf.DatapathConfig) { c.FlowLimit = limit })
}

// SetFlowRecords turns flow records on or off (off only for the benchmarks' baseline: flow logs,
// traffic counters and findings need them).
func (dp *Datapath) SetFlowRecords(on bool) error {
	return dp.updateSettings(func(c *bpf.DatapathConfig) { c.FlowOff = map[bool]uint32{true: 0, false: 1}[on] })
}

// DrainFlowRecords hands over the records of the current generation into d: it switches the
// datapath to the other generation, waits for the packets being judged, then reads and removes
// the old generation's records, which no packet touches any more.
func (dp *Datapath) DrainFlowRecords(d *FlowDrain) error {
	var cfg bpf.DatapathConfig
	if err := dp.maps.Settings.Lookup(uint32(0), &cfg); err != nil {
		return err
	}
	old := uint8(cfg.FlowGen & 1)
	if err := dp.updateSettings(func(c *bpf.DatapathConfig) { c.FlowGen = uint32(old ^ 1) }); err != nil {
		return err
	}
	if err := dp.waitForPackets(); err != nil {
		return err
	}
	clock, err := monotonicToWall()
	if err != nil {
		return err
	}
	d.Records, d.Skips, d.Lost = d.Records[:0], d.Skips[:0], 0

	d.keys = takeGeneration(dp.maps.FlowRecords, d.keys, &d.perCPU, old, func(key bpf.DatapathFlowRecordKey, counts []bpf.DatapathFlowCounts) uint8 {
		if key.Gen == old {
			packets, bytes, first, last := sumCounts(counts)
			d.Records = append(d.Records, FlowRecord{
				Sender: int(key.Sender), Receiver: int(key.Receiver), Src: addrOfKey(key.Src), Dst: addrOfKey(key.Dst),
				SrcPort: ntohs(key.Sport), DstPort: ntohs(key.Dport), Proto: key.Proto, Stage: key.Stage,
				Packets: packets, Bytes: bytes, First: clock(first), Last: clock(last),
			})
		}
		return key.Gen
	})
	d.skips = takeGeneration(dp.maps.FlowSkips, d.skips, &d.perCPU, old, func(key bpf.DatapathFlowSkipKey, counts []bpf.DatapathFlowCounts) uint8 {
		if key.Gen == old {
			packets, bytes, _, _ := sumCounts(counts)
			d.Skips = append(d.Skips, FlowSkip{Sender: int(key.Sender), Receiver: int(key.Receiver), Stage: key.Stage, Packets: packets, Bytes: bytes})
		}
		return key.Gen
	})

	gen := uint32(old)
	if err := dp.maps.FlowLost.Lookup(gen, &d.lostCPU); err == nil {
		for _, n := range d.lostCPU {
			d.Lost += n
		}
		clear(d.lostCPU)
		_ = dp.maps.FlowLost.Put(gen, d.lostCPU)
	}
	return dp.maps.FlowUsed.Update(gen, int64(0), ebpf.UpdateExist)
}

// takeGeneration hands each entry of m to take, which returns its generation, and removes those
// of generation gen; keys is reused for them (and returned), perCPU for the values.
func takeGeneration[K any](m *ebpf.Map, keys []K, perCPU *[]bpf.DatapathFlowCounts, gen uint8, take func(K, []bpf.DatapathFlowCounts) uint8) []K {
	keys = keys[:0]
	var key K
	for it := m.Iterate(); it.Next(&key, perCPU); {
		if take(key, *perCPU) == gen {
			keys = append(keys, key)
		}
	}
	for _, k := range keys {
		_ = m.Delete(k)
	}
	return keys
}

// sumCounts adds up a record's per-CPU counts: the first and last packet seen on any CPU.
func sumCounts(perCPU []bpf.DatapathFlowCounts) (packets, bytes, first, last uint64) {
	for _, c := range perCPU {
		if c.Packets == 0 {
			continue
		}
		packets += c.Packets
		bytes += c.Bytes
		if first == 0 || c.First < first {
			first = c.First
		}
		last = max(last, c.Last)
	}
	return packets, bytes, first, last
}

// monotonicToWall converts the datapath's coarse monotonic nanoseconds into wall-clock time.
func monotonicToWall() (func(uint64) time.Time, error) {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC_COARSE, &ts); err != nil {
		return nil, err
	}
	now, mono := time.Now(), uint64(ts.Nano())
	return func(ns uint64) time.Time { return now.Add(-time.Duration(int64(mono) - int64(ns))) }, nil
}

// addrOf is the address of an IPv4 key (network byte order in a host-order u32; see ipKey).
func addrOfKey(key uint32) netip.Addr {
	var b [4]byte
	binary.NativeEndian.PutUint32(b[:], key)
	return netip.AddrFrom4(b)
}

// ntohs is a port as the datapath keeps it (network byte order) in host order.
func ntohs(v uint16) uint16 {
	var b [2]byte
	binary.NativeEndian.PutUint16(b[:], v)
	return binary.BigEndian.Uint16(b[:])
}
