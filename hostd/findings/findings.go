// Package findings watches what the datapath saw for abuse, in the spirit of GuardDuty: port
// scans, probes of ports left open to the world, floods, and (hostd's own) sustained spoofing.
// It is fed the flows the datapath counted, once a drain, and the interfaces' spoof drops; it
// raises each finding once per window per source. It knows nothing of the datapath or the daemon.
package findings

import (
	"net/netip"
	"time"
)

// Finding types: GuardDuty's names, and one of hostd's own.
const (
	Portscan                 = "Recon:EC2/Portscan"
	PortProbeUnprotectedPort = "Recon:EC2/PortProbeUnprotectedPort"
	DenialOfServiceUDP       = "Backdoor:EC2/DenialOfService.Udp"
	DenialOfServiceTCP       = "Backdoor:EC2/DenialOfService.Tcp"
	SpoofingAttempt          = "Behavior:EC2/SpoofingAttempt" // hostd's own: GuardDuty has none
)

// Types lists every finding type.
var Types = []string{Portscan, PortProbeUnprotectedPort, DenialOfServiceUDP, DenialOfServiceTCP, SpoofingAttempt}

// Thresholds say when a source is raised.
type Thresholds struct {
	// Window is how long a source is watched from its first packet; a finding is raised at
	// most once per window per source and type.
	Window time.Duration
	// Portscan: more than PortscanPorts distinct ports of one instance, or PortscanInstances
	// instances, in a window, more than half of those ports refused.
	PortscanPorts, PortscanInstances int
	// PortProbeUnprotectedPort: more than ProbeConnections connections from one source to one
	// port a group of the instance leaves open to 0.0.0.0/0.
	ProbeConnections int
	// DenialOfService: more than FloodPacketsPerSecond packets of UDP (or TCP) sent in one second.
	FloodPacketsPerSecond uint64
	// SpoofingAttempt: more than SpoofDrops frames dropped as spoofed (spoof-ip, spoof-mac,
	// spoof-arp) from one instance.
	SpoofDrops uint64
}

// DefaultThresholds are the daemon's unless its flags say otherwise.
func DefaultThresholds() Thresholds {
	return Thresholds{Window: time.Minute, PortscanPorts: 25, PortscanInstances: 10, ProbeConnections: 20,
		FloodPacketsPerSecond: 300_000, SpoofDrops: 10}
}

// Endpoint is one end of a flow: an instance's interface.
type Endpoint struct {
	InstanceID, InterfaceID, AccountID string
	IP                                 netip.Addr
}

// Flow is what the datapath counted of one flow in one drain.
type Flow struct {
	Sender, Receiver Endpoint
	Proto            uint8
	SrcPort, DstPort uint16
	Packets          uint64
	// Rejected: the firewall refused it (on either side).
	Rejected bool
	// OpenToWorld: a group of the receiver admits its protocol and port from 0.0.0.0/0.
	OpenToWorld bool
}

// Finding is one finding, as `hostd finding list` prints it and the daemon logs it.
type Finding struct {
	Id          string    `json:"Id"`
	Type        string    `json:"Type"`
	Severity    float64   `json:"Severity"`
	Title       string    `json:"Title"`
	AccountId   string    `json:"AccountId"`
	InstanceId  string    `json:"InstanceId"`
	Interface   string    `json:"NetworkInterfaceId"`
	Peer        *Peer     `json:"Peer,omitempty"`
	Counts      Counts    `json:"Counts"`
	FirstSeen   time.Time `json:"FirstSeen"`
	LastSeen    time.Time `json:"LastSeen"`
	CreatedAt   time.Time `json:"CreatedAt"`
	Description string    `json:"Description"`
}

// Peer is the other side of a finding: the instance scanned or probing, the flood's target.
type Peer struct {
	IpAddress  string `json:"IpAddress"`
	InstanceId string `json:"InstanceId,omitempty"`
}

// Counts are what the finding is about.
type Counts struct {
	Packets     uint64 `json:"Packets,omitempty"`
	Rejected    uint64 `json:"Rejected,omitempty"`
	Ports       int    `json:"Ports,omitempty"`
	Instances   int    `json:"Instances,omitempty"`
	Connections int    `json:"Connections,omitempty"`
	PerSecond   uint64 `json:"PacketsPerSecond,omitempty"`
}

// Severities, as GuardDuty gives these types (2 low, 5 medium, 8 high).
var severity = map[string]float64{Portscan: 5, PortProbeUnprotectedPort: 2, DenialOfServiceUDP: 8, DenialOfServiceTCP: 8, SpoofingAttempt: 5}

const (
	protoTCP = 6
	protoUDP = 17
)

// source is what is watched of one sending interface in its window.
type source struct {
	self        Endpoint
	start, last time.Time
	packets     uint64
	rejected    uint64
	ports       map[string]map[uint16]bool   // by receiver interface: ports touched
	receivers   map[string]Endpoint          // by interface
	probes      map[probeKey]map[uint16]bool // connections (source ports) to open ports
	sent        map[uint8]uint64             // this drain's packets, by protocol
	spoofed     uint64
	raised      map[string]bool // types raised in this window
}

type probeKey struct {
	receiver string
	port     uint16
}

// Detector is the findings' state. It is not safe for concurrent use.
type Detector struct {
	th      Thresholds
	sources map[string]*source // by sending interface
	nextID  func() string
}

// NewDetector makes a detector; newID names findings.
func NewDetector(th Thresholds, newID func() string) *Detector {
	return &Detector{th: th, sources: map[string]*source{}, nextID: newID}
}

func (d *Detector) source(e Endpoint, now time.Time) *source {
	s := d.sources[e.InterfaceID]
	if s == nil || now.Sub(s.start) >= d.th.Window {
		s = &source{self: e, start: now, ports: map[string]map[uint16]bool{}, receivers: map[string]Endpoint{},
			probes: map[probeKey]map[uint16]bool{}, sent: map[uint8]uint64{}, raised: map[string]bool{}}
		d.sources[e.InterfaceID] = s
	}
	s.last = now
	return s
}

// Flow notes a flow of this drain.
func (d *Detector) Flow(f Flow, now time.Time) {
	s := d.source(f.Sender, now)
	s.packets += f.Packets
	s.sent[f.Proto] += f.Packets
	if f.Rejected {
		s.rejected += f.Packets
	}
	if f.Receiver.InterfaceID == "" || (f.Proto != protoTCP && f.Proto != protoUDP) {
		return
	}
	r := f.Receiver.InterfaceID
	s.receivers[r] = f.Receiver
	if s.ports[r] == nil {
		s.ports[r] = map[uint16]bool{}
	}
	s.ports[r][f.DstPort] = s.ports[r][f.DstPort] || f.Rejected
	if f.OpenToWorld && !f.Rejected {
		k := probeKey{r, f.DstPort}
		if s.probes[k] == nil {
			s.probes[k] = map[uint16]bool{}
		}
		s.probes[k][f.SrcPort] = true
	}
}

// Spoofed notes frames of e dropped as spoofed since the last call.
func (d *Detector) Spoofed(e Endpoint, drops uint64, now time.Time) {
	if drops > 0 {
		d.source(e, now).spoofed += drops
	}
}

// Tick ends a drain of drainEvery: it returns the findings it raises, and forgets the sources
// whose window has ended.
func (d *Detector) Tick(now time.Time, drainEvery time.Duration) []Finding {
	var out []Finding
	for id, s := range d.sources {
		out = append(out, d.judge(s, now, drainEvery)...)
		clear(s.sent)
		if now.Sub(s.start) >= d.th.Window {
			delete(d.sources, id)
		}
	}
	return out
}

func (d *Detector) judge(s *source, now time.Time, drainEvery time.Duration) []Finding {
	var out []Finding
	raise := func(typ, title, desc string, peer *Peer, c Counts) {
		if s.raised[typ] {
			return
		}
		s.raised[typ] = true
		out = append(out, Finding{Id: d.nextID(), Type: typ, Severity: severity[typ], Title: title, AccountId: s.self.AccountID,
			InstanceId: s.self.InstanceID, Interface: s.self.InterfaceID, Peer: peer, Counts: c,
			FirstSeen: s.start, LastSeen: s.last, CreatedAt: now, Description: desc})
	}
	// Portscan: the instance is the scanner; what it sent elsewhere (a busy client) does not
	// hide a scan: ports count, not packets.
	widest, widestPorts, touched, refused := "", 0, 0, 0
	for r, ports := range s.ports {
		if len(ports) > widestPorts {
			widest, widestPorts = r, len(ports)
		}
		for _, rejected := range ports {
			touched++
			if rejected {
				refused++
			}
		}
	}
	if (widestPorts > d.th.PortscanPorts || len(s.ports) > d.th.PortscanInstances) && 2*refused > touched {
		peer := s.receivers[widest]
		raise(Portscan, "Unusual outbound port scan from "+s.self.InstanceID,
			s.self.InstanceID+" is probing ports of other instances, most of them refused.",
			&Peer{IpAddress: peer.IP.String(), InstanceId: peer.InstanceID},
			Counts{Packets: s.packets, Rejected: s.rejected, Ports: widestPorts, Instances: len(s.ports)})
	}
	// PortProbeUnprotectedPort: the instance is the one probed; the source is the peer. Raised
	// once per window per source and probed instance.
	for k, conns := range s.probes {
		if len(conns) <= d.th.ProbeConnections || s.raised[PortProbeUnprotectedPort+k.receiver] {
			continue
		}
		s.raised[PortProbeUnprotectedPort+k.receiver] = true
		victim := s.receivers[k.receiver]
		out = append(out, Finding{Id: d.nextID(), Type: PortProbeUnprotectedPort, Severity: severity[PortProbeUnprotectedPort],
			Title: "Unprotected port on " + victim.InstanceID + " is being probed", AccountId: victim.AccountID,
			InstanceId: victim.InstanceID, Interface: victim.InterfaceID, Peer: &Peer{IpAddress: s.self.IP.String(), InstanceId: s.self.InstanceID},
			Counts: Counts{Connections: len(conns)}, FirstSeen: s.start, LastSeen: s.last, CreatedAt: now,
			Description: "A port a security group leaves open to 0.0.0.0/0 is being probed repeatedly from one source."})
	}
	// DenialOfService: the instance is the flooder.
	for proto, typ := range map[uint8]string{protoUDP: DenialOfServiceUDP, protoTCP: DenialOfServiceTCP} {
		rate := uint64(float64(s.sent[proto]) / drainEvery.Seconds())
		if rate > d.th.FloodPacketsPerSecond {
			var peer *Peer
			for _, r := range s.receivers {
				peer = &Peer{IpAddress: r.IP.String(), InstanceId: r.InstanceID}
				break
			}
			raise(typ, "Outbound flood from "+s.self.InstanceID, s.self.InstanceID+" is sending packets at a denial-of-service rate.",
				peer, Counts{Packets: s.sent[proto], PerSecond: rate})
		}
	}
	if s.spoofed > d.th.SpoofDrops {
		raise(SpoofingAttempt, "Spoofed packets from "+s.self.InstanceID,
			s.self.InstanceID+" keeps sending frames as another address (spoof-ip, spoof-mac or spoof-arp drops).",
			nil, Counts{Packets: s.spoofed})
	}
	return out
}
