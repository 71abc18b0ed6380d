// Package flowlog aggregates flow records into VPC Flow Logs (version 2, the default format):
// one line per interface, flow and action per aggregation interval, NODATA for an interface that
// saw nothing, SKIPDATA for one whose records could not all be kept. It knows nothing of the
// datapath: the daemon feeds it what the datapath counted.
package flowlog

import (
	"fmt"
	"io"
	"net/netip"
	"slices"
	"strings"
	"time"
)

// Actions, as flow logs spell them.
const (
	Accept = "ACCEPT"
	Reject = "REJECT"
)

// Key is one line of a flow log: a flow, one way, as one interface saw it, and what was done.
type Key struct {
	Interface        string // eni-…
	Src, Dst         netip.Addr
	SrcPort, DstPort uint16
	Proto            uint8
	Action           string
}

// Counts are what was counted of a Key in an interval.
type Counts struct {
	Packets, Bytes uint64
	First, Last    time.Time
}

// Window gathers one aggregation interval of one flow log.
type Window struct {
	Start   time.Time
	flows   map[Key]*Counts
	seen    map[string]bool // interfaces with any record
	skipped map[string]bool // interfaces with records that could not be kept
}

// NewWindow starts an interval at start.
func NewWindow(start time.Time) *Window {
	return &Window{Start: start, flows: map[Key]*Counts{}, seen: map[string]bool{}, skipped: map[string]bool{}}
}

// Add counts packets of k.
func (w *Window) Add(k Key, c Counts) {
	w.seen[k.Interface] = true
	have, ok := w.flows[k]
	if !ok {
		w.flows[k] = &c
		return
	}
	have.Packets += c.Packets
	have.Bytes += c.Bytes
	if c.First.Before(have.First) {
		have.First = c.First
	}
	if c.Last.After(have.Last) {
		have.Last = c.Last
	}
}

// Skip notes that records of iface were lost in this interval.
func (w *Window) Skip(iface string) { w.skipped[iface] = true }

// Write writes the interval, ending at end, as flow log lines: the flows of traffic (ACCEPT,
// REJECT or ALL), then a NODATA line for each of interfaces that saw nothing and a SKIPDATA line
// for each that lost records. account gives an interface's owner.
func (w *Window) Write(out io.Writer, traffic string, interfaces []string, account func(iface string) string, end time.Time) error {
	keys := make([]Key, 0, len(w.flows))
	for k := range w.flows {
		if traffic == "ALL" || k.Action == traffic {
			keys = append(keys, k)
		}
	}
	slices.SortFunc(keys, func(a, b Key) int {
		return strings.Compare(fmt.Sprint(a), fmt.Sprint(b))
	})
	var b strings.Builder
	for _, k := range keys {
		c := w.flows[k]
		fmt.Fprintf(&b, "2 %s %s %s %s %d %d %d %d %d %d %d %s OK\n", account(k.Interface), k.Interface, k.Src, k.Dst,
			k.SrcPort, k.DstPort, k.Proto, c.Packets, c.Bytes, c.First.Unix(), c.Last.Unix(), k.Action)
	}
	for _, iface := range interfaces {
		status := ""
		switch {
		case w.skipped[iface]:
			status = "SKIPDATA"
		case !w.seen[iface]:
			status = "NODATA"
		default:
			continue
		}
		fmt.Fprintf(&b, "2 %s %s - - - - - - - %d %d - %s\n", account(iface), iface, w.Start.Unix(), end.Unix(), status)
	}
	_, err := io.WriteString(out, b.String())
	return err
}
