package api

import (
	"math"
	"strconv"
	"strings"
)

// Allowances are what an instance's interface may do, as ENA's allowances: packets per second it
// sends, bits per second it sends and (apart) receives, and conntrack entries it opens. 0 is no
// limit (for pps and bandwidth); nil in a request is the default for the instance's memory.
type Allowances struct {
	PacketsPerSecond   *int64 `json:"PacketsPerSecond,omitempty"`
	BandwidthBits      *int64 `json:"BandwidthBitsPerSecond,omitempty"`
	TrackedConnections *int64 `json:"TrackedConnections,omitempty"`
}

// Per 256 MiB of an instance's --memory, between a floor and a ceiling (at 1 GiB), the defaults of
// its allowances: an instance of the default size (256 MiB) gets 250,000 packets per second,
// 5 Gbit/s each way and 16,384 tracked connections.
const (
	allowanceStep           = 256 << 20
	DefaultPPSPerStep       = 250_000
	DefaultBandwidthPerStep = 5_000_000_000
	DefaultConntrackPerStep = 16_384
)

// DefaultAllowances fills in the allowances a request left unset, from the instance's memory.
func DefaultAllowances(a Allowances, memoryBytes int64) (pps, bandwidthBits, conntrack int64) {
	scale := min(4, max(0.125, float64(memoryBytes)/allowanceStep))
	pick := func(v *int64, perStep float64) int64 {
		if v != nil {
			return *v
		}
		return int64(perStep * scale)
	}
	return pick(a.PacketsPerSecond, DefaultPPSPerStep), pick(a.BandwidthBits, DefaultBandwidthPerStep), pick(a.TrackedConnections, DefaultConntrackPerStep)
}

// RateForms is how a RATE (bits per second) may be written, for error messages.
const RateForms = "give bits per second, as 1000000, 100M, 100Mbit, 2.5G or 10Gbit (k, M, G, T are powers of 1000; 0 for no limit)"

// ParseRateFlag reads a bit rate given to flag: a number with an optional decimal unit (k, M, G,
// T) and an optional "bit" or "bps".
func ParseRateFlag(flag, s string) (int64, error) {
	bad := func(why string) (int64, error) {
		return 0, Errorf(CodeInvalidParameterValue, "%s %q %s: %s", flag, s, why, RateForms)
	}
	t := strings.TrimSpace(s)
	for _, suffix := range []string{"bit", "bps"} {
		t = strings.TrimSuffix(t, suffix)
	}
	num := strings.TrimRight(t, "kKMGT")
	unit := t[len(num):]
	scale, ok := map[string]float64{"": 1, "k": 1e3, "K": 1e3, "M": 1e6, "G": 1e9, "T": 1e12}[unit]
	if !ok || num == "" {
		return bad("is not a rate")
	}
	v, err := strconv.ParseFloat(num, 64)
	switch {
	case err != nil || math.IsNaN(v) || math.IsInf(v, 0):
		return bad("is not a rate")
	case v < 0:
		return bad("is negative")
	case v*scale >= math.MaxInt64:
		return bad("is too large")
	}
	return int64(v * scale), nil
}
