package findings

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func endpoint(n int) Endpoint {
	return Endpoint{InstanceID: fmt.Sprintf("i-%d", n), InterfaceID: fmt.Sprintf("eni-%d", n), AccountID: "000000000000",
		IP: netip.AddrFrom4([4]byte{10, 0, 0, byte(n)})}
}

func detector() *Detector {
	n := 0
	return NewDetector(DefaultThresholds(), func() string { n++; return fmt.Sprint(n) })
}

func types(fs []Finding) []string {
	var out []string
	for _, f := range fs {
		out = append(out, f.Type)
	}
	return out
}

// A scan of many refused ports raises one Portscan naming the scanner, once per window; as many
// connections to one port raise nothing; a new window may raise again.
func TestPortscan(t *testing.T) {
	d := detector()
	now := time.Unix(1000, 0)
	scanner, victim := endpoint(1), endpoint(2)
	for port := range uint16(100) {
		d.Flow(Flow{Sender: scanner, Receiver: victim, Proto: 6, SrcPort: 40000, DstPort: port + 1, Packets: 1, Rejected: port != 22}, now)
	}
	got := d.Tick(now, time.Second)
	require.Equal(t, []string{Portscan}, types(got))
	assert.Equal(t, "i-1", got[0].InstanceId)
	assert.Equal(t, "10.0.0.2", got[0].Peer.IpAddress)
	assert.Equal(t, 100, got[0].Counts.Ports)
	for port := range uint16(100) { // the same scan again in the window: nothing new
		d.Flow(Flow{Sender: scanner, Receiver: victim, Proto: 6, DstPort: port + 1, Packets: 1, Rejected: true}, now.Add(time.Second))
	}
	assert.Empty(t, d.Tick(now.Add(time.Second), time.Second))
	d.Tick(now.Add(time.Minute), time.Second) // the window ends
	for port := range uint16(100) {
		d.Flow(Flow{Sender: scanner, Receiver: victim, Proto: 6, DstPort: port + 1, Packets: 1, Rejected: true}, now.Add(61*time.Second))
	}
	assert.Equal(t, []string{Portscan}, types(d.Tick(now.Add(61*time.Second), time.Second)), "a new window")

	// Control: as many connections, to one allowed port.
	d = detector()
	for sport := range uint16(100) {
		d.Flow(Flow{Sender: scanner, Receiver: victim, Proto: 6, SrcPort: 40000 + sport, DstPort: 80, Packets: 3}, now)
	}
	assert.Empty(t, d.Tick(now, time.Second))
	// A busy client that scans too: its accepted packets do not hide the scan.
	d.Flow(Flow{Sender: endpoint(4), Receiver: victim, Proto: 6, DstPort: 5432, Packets: 40_000}, now)
	for port := range uint16(100) {
		d.Flow(Flow{Sender: endpoint(4), Receiver: victim, Proto: 6, DstPort: 1000 + port, Packets: 1, Rejected: true}, now)
	}
	assert.Equal(t, []string{Portscan}, types(d.Tick(now, time.Second)))
	// Many ports, but accepted: a busy client, not a scan.
	for port := range uint16(100) {
		d.Flow(Flow{Sender: endpoint(3), Receiver: victim, Proto: 6, DstPort: port, Packets: 1}, now)
	}
	assert.Empty(t, d.Tick(now, time.Second))
}

func TestPortProbeFloodAndSpoofing(t *testing.T) {
	d := detector()
	now := time.Unix(1000, 0)
	prober, victim := endpoint(1), endpoint(2)
	for sport := range uint16(21) {
		d.Flow(Flow{Sender: prober, Receiver: victim, Proto: 6, SrcPort: 30000 + sport, DstPort: 22, Packets: 1, OpenToWorld: true}, now)
	}
	got := d.Tick(now, time.Second)
	require.Equal(t, []string{PortProbeUnprotectedPort}, types(got))
	assert.Equal(t, "i-2", got[0].InstanceId, "the probed instance")
	assert.Equal(t, "i-1", got[0].Peer.InstanceId)

	d.Flow(Flow{Sender: endpoint(4), Receiver: victim, Proto: 17, Packets: 400_000}, now)
	d.Flow(Flow{Sender: endpoint(5), Receiver: victim, Proto: 17, Packets: 250_000}, now)
	got = d.Tick(now, time.Second)
	require.Equal(t, []string{DenialOfServiceUDP}, types(got))
	assert.Equal(t, "i-4", got[0].InstanceId)

	d.Spoofed(endpoint(6), 5, now)
	assert.Empty(t, d.Tick(now, time.Second))
	d.Spoofed(endpoint(6), 6, now)
	got = d.Tick(now, time.Second)
	require.Equal(t, []string{SpoofingAttempt}, types(got))
	assert.Equal(t, uint64(11), got[0].Counts.Packets)
}
