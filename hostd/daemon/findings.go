package daemon

import (
	"bufio"
	"encoding/json"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/hostd/hostd/firewall"
	"github.com/hostd/hostd/hostd/api"
	"github.com/hostd/hostd/hostd/findings"
	"github.com/hostd/hostd/hostd/state"
	"github.com/hostd/hostd/vnet"
)

// findingsFile is where findings are kept, one JSON document a line.
func (d *Daemon) findingsFile() string { return filepath.Join(d.cfg.StateDir, "findings.jsonl") }

// spoofReasons are the drops that make a SpoofingAttempt.
var spoofReasons = []string{"spoof-ip", "spoof-mac", "spoof-arp"}

// endpointOf is what the detectors know of an interface.
func endpointOf(e *state.ENI) findings.Endpoint {
	if e == nil {
		return findings.Endpoint{}
	}
	return findings.Endpoint{InstanceID: e.InstanceID, InterfaceID: e.ID, AccountID: e.Owner(), IP: netip.MustParseAddr(e.IP)}
}

// openToWorld tells whether one of rules (a group's inbound rules naming 0.0.0.0/0) admits proto
// to port.
func openToWorld(rules []firewall.Rule, proto uint8, port uint16) bool {
	for _, r := range rules {
		if r.Protocol == firewall.AllProtocols || r.Protocol == int(proto) && r.From <= int(port) && int(port) <= r.To {
			return true
		}
	}
	return false
}

// worldOpenRulesLocked are, by interface, its groups' inbound rules open to 0.0.0.0/0.
func (d *Daemon) worldOpenRulesLocked() map[string][]firewall.Rule {
	world := netip.MustParsePrefix("0.0.0.0/0")
	out := map[string][]firewall.Rule{}
	for _, e := range d.enis {
		for _, id := range e.Groups {
			if g := d.groups[id]; g != nil {
				for _, r := range g.Ingress {
					if r.Group == "" && r.CIDR == world {
						out[e.ID] = append(out[e.ID], r.Rule)
					}
				}
			}
		}
	}
	return out
}

// detectFindings feeds the detectors one drain's flow records (owner: whose they are) and the spoof
// drops of the interfaces there now (byIfindex), and records what they raise. It runs under
// d.net.mu.
func (d *Daemon) detectFindings(drain *vnet.FlowDrain, owner, byIfindex map[int]*state.ENI, world map[string][]firewall.Rule, now time.Time) {
	w := &d.net
	for _, r := range drain.Records {
		sender := owner[r.Sender]
		if sender == nil {
			continue
		}
		receiver := owner[r.Receiver]
		open := receiver != nil && openToWorld(world[receiver.ID], r.Proto, r.DstPort)
		w.detector.Flow(findings.Flow{Sender: endpointOf(sender), Receiver: endpointOf(receiver), Proto: r.Proto, SrcPort: r.SrcPort,
			DstPort: r.DstPort, Packets: r.Packets, Rejected: r.Stage != vnet.FlowDelivered, OpenToWorld: open}, now)
	}
	for ifindex, e := range byIfindex {
		drops := d.dp.Drops(ifindex)
		var spoofed uint64
		for _, reason := range spoofReasons {
			spoofed += drops[reason]
		}
		if seen, ok := w.spoofed[e.ID]; ok && spoofed > seen {
			w.detector.Spoofed(endpointOf(e), spoofed-seen, now)
		}
		w.spoofed[e.ID] = spoofed
	}
	for _, f := range w.detector.Tick(now, FlowDrainInterval) {
		d.recordFinding(f)
	}
}

// recordFinding appends a finding to the findings file and logs it.
func (d *Daemon) recordFinding(f findings.Finding) {
	line, err := json.Marshal(f)
	if err != nil {
		return
	}
	d.log.Warn("finding", "type", f.Type, "instance", f.InstanceId, "finding", string(line))
	err = appendFile(d.findingsFile(), func(out *os.File) error {
		_, err := out.Write(append(line, '\n'))
		return err
	})
	if err != nil {
		d.log.Error("recording a finding", "err", err)
	}
}

// ListFindings returns the caller's findings, raised at or after since, of type typ ("" for all).
func (d *Daemon) ListFindings(c api.Caller, since time.Time, typ string) (api.ListFindingsResponse, error) {
	out := api.ListFindingsResponse{Findings: []findings.Finding{}}
	if typ != "" && !slices.Contains(findings.Types, typ) {
		return out, api.Errorf(api.CodeInvalidParameterValue, "--type %q: give one of %v", typ, findings.Types)
	}
	file, err := os.Open(d.findingsFile())
	if os.IsNotExist(err) {
		return out, nil
	}
	if err != nil {
		return out, err
	}
	defer file.Close()
	scan := bufio.NewScanner(file)
	scan.Buffer(make([]byte, 64<<10), 1<<20)
	for scan.Scan() {
		var f findings.Finding
		if json.Unmarshal(scan.Bytes(), &f) != nil {
			continue // a line cut short by a crash
		}
		if c.Sees(f.AccountId) && !f.CreatedAt.Before(since) && (typ == "" || f.Type == typ) {
			out.Findings = append(out.Findings, f)
		}
	}
	return out, scan.Err()
}
