package vnet

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A burst far past an allowance, sent faster than any clock tick: the bucket lets its burst
// (20 ms at the allowance's rate) through and drops the rest, counting each drop under ENA's
// name. Control: the same burst with no allowance all goes through.
func TestAllowancesPolice(t *testing.T) {
	const sent = 400
	good := func(t *testing.T) []byte { return udpFrame(t, guestMAC, routerMAC, guestIP, peerIP, 5000, 53) }
	for _, c := range []struct {
		name   string
		set    func(*Interface)
		reason string
	}{
		{"packets per second", func(in *Interface) { in.PPSAllowance = 1000 }, ReasonPPSAllowance},
		// 33-byte datagrams at 264 kbit/s: 1000 a second.
		{"bandwidth out", func(in *Interface) { in.BandwidthAllowance = 33 * 8 * 1000 }, ReasonBandwidthOutAllowance},
	} {
		t.Run(c.name, func(t *testing.T) {
			in := guest()
			c.set(&in)
			dp := testDatapath(t, in)
			start := time.Now()
			through := 0
			for range sent {
				if v, _ := run(t, dp.progs.FromGuest, good(t)); v == actRedirect {
					through++
				}
			}
			drops := dp.Drops(1)
			assert.LessOrEqual(t, through, mostThrough(time.Since(start)))
			assert.GreaterOrEqual(t, through, 1000/50-1, "a burst's worth goes through")
			assert.Equal(t, uint64(sent-through), drops[c.reason], "every packet past the allowance counted: %v", drops)

			// Control: the allowance lifted, the same burst goes through whole.
			require.NoError(t, dp.SetInterface(1, guest()))
			for range sent {
				v, _ := run(t, dp.progs.FromGuest, good(t))
				require.Equal(t, uint32(actRedirect), v)
			}
		})
	}
}

// What an interface receives is policed on its own allowance, and counted on it.
func TestBandwidthInAllowance(t *testing.T) {
	dp := testDatapath(t, guest())
	require.NoError(t, dp.SetInterface(99, Interface{VPC: 7, IP: peerIP, Subnet: subnet, MAC: peerMAC, SourceDestCheck: true, Policy: openPolicy, BandwidthAllowance: 33 * 8 * 1000}))
	start := time.Now()
	through := 0
	for range 400 {
		if v, _ := run(t, dp.progs.FromGuest, udpFrame(t, guestMAC, routerMAC, guestIP, peerIP, 5000, 53)); v == actRedirect {
			through++
		}
	}
	assert.LessOrEqual(t, through, mostThrough(time.Since(start)))
	assert.Equal(t, uint64(400-through), dp.Drops(99)[ReasonBandwidthInAllowance])
	assert.Zero(t, dp.Drops(1)[ReasonBandwidthOutAllowance], "the sender's allowance is not charged")
}

// mostThrough is the most a 1000-packets-a-second allowance lets through in elapsed: its burst
// (20 ms), what it earns meanwhile, and a coarse clock tick (4 ms) of slack.
func mostThrough(elapsed time.Duration) int {
	return 20 + 1 + int(elapsed.Milliseconds()) + 4
}
