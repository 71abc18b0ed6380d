package flowlog

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestWindowWritesVersion2Lines(t *testing.T) {
	start := time.Unix(1700000000, 0)
	w := NewWindow(start)
	k := Key{Interface: "eni-0a", Src: netip.MustParseAddr("10.0.1.4"), Dst: netip.MustParseAddr("10.0.1.5"), SrcPort: 40000, DstPort: 80, Proto: 6, Action: Accept}
	w.Add(k, Counts{Packets: 2, Bytes: 120, First: start.Add(2 * time.Second), Last: start.Add(3 * time.Second)})
	w.Add(k, Counts{Packets: 1, Bytes: 60, First: start.Add(1 * time.Second), Last: start.Add(5 * time.Second)})
	rej := k
	rej.DstPort, rej.Action = 22, Reject
	w.Add(rej, Counts{Packets: 1, Bytes: 40, First: start, Last: start})
	w.Add(Key{Interface: "eni-0c", Action: Accept}, Counts{Packets: 1})
	w.Skip("eni-0c")
	account := func(string) string { return "000000000000" }

	var out strings.Builder
	require.NoError(t, w.Write(&out, "ALL", []string{"eni-0a", "eni-0b", "eni-0c"}, account, start.Add(time.Minute)))
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	assert.Contains(t, lines, "2 000000000000 eni-0a 10.0.1.4 10.0.1.5 40000 80 6 3 180 1700000001 1700000005 ACCEPT OK")
	assert.Contains(t, lines, "2 000000000000 eni-0a 10.0.1.4 10.0.1.5 40000 22 6 1 40 1700000000 1700000000 REJECT OK")
	assert.Contains(t, lines, "2 000000000000 eni-0b - - - - - - - 1700000000 1700000060 - NODATA")
	assert.Contains(t, lines, "2 000000000000 eni-0c - - - - - - - 1700000000 1700000060 - SKIPDATA")

	out.Reset()
	require.NoError(t, w.Write(&out, "REJECT", []string{"eni-0a"}, account, start.Add(time.Minute)))
	assert.Equal(t, "2 000000000000 eni-0a 10.0.1.4 10.0.1.5 40000 22 6 1 40 1700000000 1700000000 REJECT OK\n", out.String())
}
