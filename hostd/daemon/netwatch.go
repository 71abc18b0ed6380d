package daemon

import (
	"context"
	"net"
	"os"
	"sync"
	"time"

	"github.com/hostd/hostd/firewall"
	"github.com/hostd/hostd/hostd/api"
	"github.com/hostd/hostd/hostd/findings"
	"github.com/hostd/hostd/hostd/flowlog"
	"github.com/hostd/hostd/hostd/state"
	"github.com/hostd/hostd/vnet"
)

// FlowDrainInterval is how often the daemon takes the datapath's flow records: the finest
// aggregation interval a flow log can have, and the findings' clock.
const FlowDrainInterval = time.Second

// netWatch is what the daemon makes of the datapath's flow records: each interface's traffic,
// the open interval of each flow log, and what the finding detectors see.
type netWatch struct {
	mu      sync.Mutex
	drain   vnet.FlowDrain
	traffic map[string]*api.InterfaceTraffic // by interface id, since the daemon started
	windows map[string]*flowlog.Window       // by flow log id
	lost    uint64                           // packets neither recorded nor counted as skipped

	detector *findings.Detector
	spoofed  map[string]uint64 // by interface id: its spoof drops at the last drain
	// last are the interfaces of the last drain: the records of one that went since (its last
	// second, drained after it went) are still its own.
	last map[int]*state.ENI
}

// view is one interface's side of a flow record.
type view struct {
	eni    *state.ENI
	action string
	out    bool // the interface sent it; else received
}

// watchNetwork takes the datapath's flow records every FlowDrainInterval until ctx is done.
func (d *Daemon) watchNetwork(ctx context.Context) {
	tick := time.NewTicker(FlowDrainInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-tick.C:
			d.takeFlowRecords(now)
		}
	}
}

// takeFlowRecords drains the datapath's flow records into the interfaces' counters, the flow
// logs' windows and the detectors, and writes the flow logs whose interval has ended.
func (d *Daemon) takeFlowRecords(now time.Time) {
	byIfindex, logs, world := d.flowContext() // before w.mu: describe takes d.mu, then w.mu
	w := &d.net
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := d.dp.DrainFlowRecords(&w.drain); err != nil {
		d.log.Error("taking the datapath's flow records", "err", err)
		return
	}
	owner := w.owners(byIfindex)
	views := func(sender, receiver int, stage uint8) [2]view {
		action := flowlog.Accept
		if stage != vnet.FlowDelivered {
			action = flowlog.Reject
		}
		out := view{eni: owner[sender], out: true, action: action}
		if stage == vnet.FlowRejectedOut {
			out.action = flowlog.Reject
			return [2]view{out, {}} // the receiver never saw it
		}
		if stage == vnet.FlowRejectedIn {
			out.action = flowlog.Accept // it left the sender
		}
		return [2]view{out, {eni: owner[receiver], action: action}}
	}
	for _, r := range w.drain.Records {
		for _, v := range views(r.Sender, r.Receiver, r.Stage) {
			if v.eni == nil {
				continue
			}
			w.count(v, r.Packets, r.Bytes)
			key := flowlog.Key{Interface: v.eni.ID, Src: r.Src, Dst: r.Dst, SrcPort: r.SrcPort, DstPort: r.DstPort, Proto: r.Proto, Action: v.action}
			for _, f := range logs {
				if flowLogCovers(f, v.eni) {
					w.window(f, now).Add(key, flowlog.Counts{Packets: r.Packets, Bytes: r.Bytes, First: r.First, Last: r.Last})
				}
			}
		}
	}
	for _, s := range w.drain.Skips {
		for _, v := range views(s.Sender, s.Receiver, s.Stage) {
			if v.eni == nil {
				continue
			}
			w.count(v, s.Packets, s.Bytes)
			for _, f := range logs {
				if flowLogCovers(f, v.eni) {
					w.window(f, now).Skip(v.eni.ID)
				}
			}
		}
	}
	if w.drain.Lost > 0 {
		// Whose they were is not known: every log's interval is marked as having lost records.
		w.lost += w.drain.Lost
		d.log.Warn("flow records lost: the datapath's record and skip tables were both full", "packets", w.drain.Lost)
		for _, f := range logs {
			for _, e := range byIfindex {
				if flowLogCovers(f, e) {
					w.window(f, now).Skip(e.ID)
				}
			}
		}
	}
	d.flushFlowLogs(logs, byIfindex, now)
	d.detectFindings(&w.drain, owner, byIfindex, world, now)
}

// owners are the interfaces records are attributed to: those there now, and those of the last
// drain that went since (a terminated instance's last second).
func (w *netWatch) owners(now map[int]*state.ENI) map[int]*state.ENI {
	owners := make(map[int]*state.ENI, len(now))
	for ifindex, e := range w.last {
		owners[ifindex] = e
	}
	for ifindex, e := range now {
		owners[ifindex] = e
	}
	w.last = now
	return owners
}

// watchNew notes an interface just made: its drop counters start at zero, so the spoof drops of
// its first second count (an interface first seen otherwise, adopted, starts from what it has).
func (w *netWatch) watchNew(eniID string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.spoofed[eniID] = 0
}

// count adds a record's packets to its interface's traffic: sent if it left the interface's
// guest (it was not refused on the way out), received if it was delivered.
func (w *netWatch) count(v view, packets, bytes uint64) {
	t := w.traffic[v.eni.ID]
	if t == nil {
		t = &api.InterfaceTraffic{}
		w.traffic[v.eni.ID] = t
	}
	switch {
	case v.out && v.action == flowlog.Accept:
		t.PacketsOut += packets
		t.BytesOut += bytes
	case !v.out && v.action == flowlog.Accept:
		t.PacketsIn += packets
		t.BytesIn += bytes
	}
}

// window is the open interval of flow log f, started now if it has none.
func (w *netWatch) window(f *state.FlowLog, now time.Time) *flowlog.Window {
	win := w.windows[f.ID]
	if win == nil {
		win = flowlog.NewWindow(now.Add(-FlowDrainInterval))
		w.windows[f.ID] = win
	}
	return win
}

// flowContext is what a drain needs of the daemon's records: the interfaces by host-end ifindex
// (those of running instances), the flow logs, and each interface's rules open to the world.
func (d *Daemon) flowContext() (map[int]*state.ENI, []*state.FlowLog, map[string][]firewall.Rule) {
	d.mu.Lock()
	defer d.mu.Unlock()
	byIfindex := map[int]*state.ENI{}
	for _, e := range d.enis {
		if v := d.vpcs[e.VpcID]; v != nil {
			if ifindex := d.dp.IfindexOf(net.ParseIP(e.IP), v.Number); ifindex > 0 {
				byIfindex[ifindex] = e
			}
		}
	}
	logs := make([]*state.FlowLog, 0, len(d.flowLogs))
	for _, f := range d.flowLogs {
		logs = append(logs, f)
	}
	return byIfindex, logs, d.worldOpenRulesLocked()
}

// flushFlowLogs writes each flow log whose interval has ended, with NODATA for each of its
// interfaces that saw nothing, and starts its next interval; windows of deleted logs go.
func (d *Daemon) flushFlowLogs(logs []*state.FlowLog, byIfindex map[int]*state.ENI, now time.Time) {
	w := &d.net
	live := map[string]bool{}
	for _, f := range logs {
		live[f.ID] = true
		win := w.window(f, now)
		if now.Sub(win.Start) < f.Interval-FlowDrainInterval/2 {
			continue
		}
		var covered []string
		owners := map[string]string{}
		for _, e := range byIfindex {
			if flowLogCovers(f, e) {
				covered = append(covered, e.ID)
				owners[e.ID] = e.Owner()
			}
		}
		err := appendFile(f.Destination, func(out *os.File) error {
			return win.Write(out, f.TrafficType, covered, func(id string) string { return owners[id] }, now)
		})
		if err != nil {
			d.log.Error("writing a flow log", "flow_log", f.ID, "destination", f.Destination, "err", err)
		}
		w.windows[f.ID] = flowlog.NewWindow(now)
	}
	for id := range w.windows {
		if !live[id] {
			delete(w.windows, id)
		}
	}
}

// interfaceTraffic is what an interface sent and received since the daemon started.
func (d *Daemon) interfaceTraffic(eniID string) *api.InterfaceTraffic {
	d.net.mu.Lock()
	defer d.net.mu.Unlock()
	t := api.InterfaceTraffic{}
	if have := d.net.traffic[eniID]; have != nil {
		t = *have
	}
	return &t
}
