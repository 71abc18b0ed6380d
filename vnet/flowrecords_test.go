package vnet

import (
	"net/netip"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Packets judged by the firewall are counted per flow, exactly, and handed over once: a drain
// empties the generation it reads.
func TestFlowRecordsCountExactly(t *testing.T) {
	dp := testDatapath(t, guest())
	for range 7 {
		v, _ := run(t, dp.progs.FromGuest, udpFrame(t, guestMAC, routerMAC, guestIP, peerIP, 5000, 53))
		require.Equal(t, uint32(actRedirect), v)
	}
	var d FlowDrain
	require.NoError(t, dp.DrainFlowRecords(&d))
	require.Len(t, d.Records, 1)
	r := d.Records[0]
	assert.Equal(t, FlowRecord{Sender: 1, Receiver: 99, Src: netip.MustParseAddr("10.0.0.5"), Dst: netip.MustParseAddr("10.0.0.6"),
		SrcPort: 5000, DstPort: 53, Proto: 17, Stage: FlowDelivered, Packets: 7, Bytes: 7 * (20 + 8 + 5), First: r.First, Last: r.Last}, r)
	assert.False(t, r.First.After(r.Last))
	require.NoError(t, dp.DrainFlowRecords(&d))
	assert.Empty(t, d.Records, "drained once")

	// Off, nothing is recorded (the benchmarks' baseline).
	require.NoError(t, dp.SetFlowRecords(false))
	run(t, dp.progs.FromGuest, udpFrame(t, guestMAC, routerMAC, guestIP, peerIP, 5000, 53))
	require.NoError(t, dp.DrainFlowRecords(&d))
	assert.Empty(t, d.Records)
}

// Past the limit, a new flow's packets are counted as skipped, by interface pair: never lost.
func TestFlowRecordsSkipPastTheLimit(t *testing.T) {
	dp := testDatapath(t, guest())
	require.NoError(t, dp.SetFlowRecordLimit(3))
	for port := range uint16(10) {
		run(t, dp.progs.FromGuest, udpFrame(t, guestMAC, routerMAC, guestIP, peerIP, 5000+port, 53))
	}
	var d FlowDrain
	require.NoError(t, dp.DrainFlowRecords(&d))
	assert.Len(t, d.Records, 3)
	require.Len(t, d.Skips, 1)
	assert.Equal(t, FlowSkip{Sender: 1, Receiver: 99, Stage: FlowDelivered, Packets: 7, Bytes: 7 * 33}, d.Skips[0])
	// The next generation has room again.
	run(t, dp.progs.FromGuest, udpFrame(t, guestMAC, routerMAC, guestIP, peerIP, 6000, 53))
	require.NoError(t, dp.DrainFlowRecords(&d))
	assert.Len(t, d.Records, 1)
	assert.Empty(t, d.Skips)
}
