package main_test

import (
	"cmp"
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hostd/hostd/hostd/api"
	"github.com/hostd/hostd/hostd/hostdtest"
	"github.com/hostd/hostd/hostd/probe"
)

// rr measures a request/response run from `from` to a `probe serve` on server.
func rr(t *testing.T, d *hostdtest.Daemon, from, server netInstance, seconds float64) probe.PerfResult {
	t.Helper()
	out := d.MustExec(from.id, "taskset", "-c", "1", "hostd", "probe", "rr", "--addr", server.ip+":5201", "--seconds", fmt.Sprint(seconds))
	var res probe.PerfResult
	require.NoError(t, json.Unmarshal([]byte(out), &res))
	return res
}

// The noisy neighbour: a tenant floods UDP at a server (an echo service) its neighbour talks to.
// Past its pps allowance its packets are dropped at its own interface and counted there, and the
// neighbour's request/response rate stays within 10% of the quiet case. Control: the same flood
// from an instance with no pps allowance, and the neighbour suffers.
//
// The flooder runs on CPU 0, the neighbour and the server on CPU 1: what the flooder spends of
// its own CPU is the cgroups' business, the fabric and the server it reaches are the allowance's.
// So in the quiet case the flooder keeps CPU 0 as busy, sending nothing: on this VM an idle CPU
// makes the neighbour's wake-ups slower, which would flatter every flood against a quiet baseline.
func TestNoisyNeighbourIsHeldToItsAllowance(t *testing.T) {
	d := hostdtest.Start(t)
	vpc, subnets := createVpc(t, d, "10.41.0.0/16", "10.41.1.0/24")
	open := createGroup(t, d, vpc, "open")
	authorize(t, d, open, "--ingress", "--protocol", "all", "--cidr", "10.41.0.0/16")
	server := launchIn(t, d, subnets[0], "--sg", open)
	neighbour := launchIn(t, d, subnets[0])
	held := launchIn(t, d, subnets[0], "--pps", "2000")
	unheld := launchIn(t, d, subnets[0], "--pps", "0")
	serve(t, d, server, 5201, "taskset", "-c", "1")

	const seconds = 2
	flood := []string{"hostd", "probe", "send", "--dst-ip", server.ip, "--proto", "udp", "--dport", "5201", "--count", "100000000"}
	busy := []string{"sh", "-c", "while :; do :; done"}
	// The flooder's command lasts a little longer than the measurement (timeout ends it).
	running := func(flooder netInstance, cmd []string, measure func()) {
		done := make(chan struct{})
		go func() {
			defer close(done)
			d.Exec(flooder.id, append([]string{"taskset", "-c", "0", "timeout", fmt.Sprint(seconds + 1)}, cmd...)...)
		}()
		time.Sleep(500 * time.Millisecond)
		measure()
		<-done
		time.Sleep(time.Second) // the server's backlog echoed before the next measurement
	}
	// Rounds in alternation, medians: the machine is shared, and its noise falls on all three alike.
	var quiet, underHeld, underUnheld []float64
	for range 3 {
		running(unheld, busy, func() { quiet = append(quiet, rr(t, d, neighbour, server, seconds).PerSecond) })
		running(held, flood, func() { underHeld = append(underHeld, rr(t, d, neighbour, server, seconds).PerSecond) })
		running(unheld, flood, func() { underUnheld = append(underUnheld, rr(t, d, neighbour, server, seconds).PerSecond) })
	}
	t.Logf("request/response per second: quiet (the flooder busy, sending nothing) %.0f; flood held to its allowance %.0f; flood with none (control) %.0f",
		quiet, underHeld, underUnheld)

	in := describe(t, d, held.id).NetworkInterfaces[0].Allowances
	t.Logf("the held flooder's packets dropped past its allowance: %d", in.PpsAllowanceExceeded)
	require.NotNil(t, in)
	assert.Equal(t, int64(2000), in.PacketsPerSecond)
	assert.Greater(t, in.PpsAllowanceExceeded, uint64(100000), "the flooder's packets past its allowance are dropped and counted")
	assert.Zero(t, describe(t, d, unheld.id).NetworkInterfaces[0].Allowances.PpsAllowanceExceeded)
	base := median(quiet)
	assert.GreaterOrEqual(t, median(underHeld), 0.9*base, "the neighbour within 10%% of the quiet case")
	assert.Less(t, median(underUnheld), 0.9*base, "control: without the allowance the neighbour suffers")
}

// Allowances default by memory, and a bad one is refused with nothing made.
func TestAllowanceDefaultsAndRefusals(t *testing.T) {
	d := hostdtest.Start(t)
	_, subnets := createVpc(t, d, "10.42.0.0/16", "10.42.1.0/24")
	small := launchIn(t, d, subnets[0], "--memory", "128M")
	a := describe(t, d, small.id).NetworkInterfaces[0].Allowances
	require.NotNil(t, a)
	assert.Equal(t, api.InterfaceAllowances{PacketsPerSecond: api.DefaultPPSPerStep / 2, BandwidthBitsPerSecond: api.DefaultBandwidthPerStep / 2,
		TrackedConnections: api.DefaultConntrackPerStep / 2}, *a)
	custom := launchIn(t, d, subnets[0], "--pps", "5000", "--bandwidth", "100Mbit", "--conntrack", "64")
	a = describe(t, d, custom.id).NetworkInterfaces[0].Allowances
	assert.Equal(t, int64(5000), a.PacketsPerSecond)
	assert.Equal(t, int64(100_000_000), a.BandwidthBitsPerSecond)
	assert.Equal(t, int64(64), a.TrackedConnections)

	for _, bad := range [][]string{{"--pps", "-1"}, {"--pps", "lots"}, {"--bandwidth", "fast"}, {"--conntrack", "0"}, {"--conntrack", "99999999"}, {"--pps", "2000000000"}} {
		_, stderr, code := d.Run(append(append([]string{"instance", "run", "--subnet", subnets[0]}, bad...), "--", "true")...)
		assert.Equal(t, 1, code, "%v", bad)
		c, _ := hostdtest.ErrorOf(t, stderr)
		assert.Equal(t, api.CodeInvalidParameterValue, c, "%v: %s", bad, stderr)
	}
	_, stderr, code := d.Run("instance", "run", "--pps", "10", "--", "true")
	assert.Equal(t, 1, code, stderr)
	var all api.DescribeInstancesResponse
	d.JSON(&all, "instance", "describe")
	assert.Len(t, all.Instances, 2, "nothing made by a refused launch")
}

// median is the middle of v (the upper one of an even count).
func median[T cmp.Ordered](v []T) T {
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}
