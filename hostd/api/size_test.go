package api

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseSize(t *testing.T) {
	good := map[string]int64{
		"0": 0, "4096": 4096, "512M": 512 << 20, "512MiB": 512 << 20, "512MB": 512 << 20,
		"1G": 1 << 30, "1GiB": 1 << 30, "1g": 1 << 30, "1.5G": 3 << 29, "64k": 64 << 10, "2T": 2 << 40,
		" 8M ": 8 << 20, "100B": 100,
	}
	for in, want := range good {
		got, err := ParseSize(in)
		require.NoError(t, err, in)
		assert.Equal(t, want, got, in)
	}
	for _, in := range []string{"", "M", "-1", "1X", "1.3", "1e400", "NaN", "inf", "1GiBB", "1iB", "0x10", "9999999T"} {
		_, err := ParseSize(in)
		require.Error(t, err, in)
		assert.Equal(t, CodeInvalidParameterValue, AsError(err).Code, in)
	}
}

// A bad SIZE flag names the flag and the forms a SIZE takes.
func TestParseSizeFlagNamesFlagAndForms(t *testing.T) {
	for _, in := range []string{"banana", "-5M", "1.3", "12Q", ""} {
		_, err := ParseSizeFlag("--memory", in)
		require.Error(t, err, in)
		e := AsError(err)
		assert.Equal(t, CodeInvalidParameterValue, e.Code, in)
		assert.Contains(t, e.Message, `--memory "`+in+`"`)
		for _, form := range []string{"512M", "512MiB", "1G", "1GiB", "bytes"} {
			assert.Contains(t, e.Message, form, in)
		}
	}
}

func TestFormatSizeRoundTrips(t *testing.T) {
	for _, n := range []int64{0, 1, 1023, 1024, 512 << 20, 1 << 30, 3 << 29, 5 << 40} {
		got, err := ParseSize(FormatSize(n))
		require.NoError(t, err)
		assert.Equal(t, n, got)
	}
}

// FuzzParseSize: whatever the input, ParseSize either fails with InvalidParameterValue or returns
// a non-negative size that formats back to itself.
func FuzzParseSize(f *testing.F) {
	for _, s := range []string{"512M", "1GiB", "1.5g", "0", "-1", "1e9", "", "KiB", "3TB"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := ParseSize(s)
		if err != nil {
			if AsError(err).Code != CodeInvalidParameterValue {
				t.Fatalf("%q: wrong error %v", s, err)
			}
			return
		}
		if n < 0 {
			t.Fatalf("%q: negative size %d", s, n)
		}
		back, err := ParseSize(FormatSize(n))
		if err != nil || back != n {
			t.Fatalf("%q: %d formats as %q which reads back as %d, %v", s, n, FormatSize(n), back, err)
		}
	})
}

func TestParseRateFlag(t *testing.T) {
	for in, want := range map[string]int64{"0": 0, "1000000": 1e6, "100M": 1e8, "100Mbit": 1e8, "2.5G": 2.5e9, "10Gbit": 1e10, "64kbps": 64000} {
		got, err := ParseRateFlag("--bandwidth", in)
		if err != nil || got != want {
			t.Errorf("%q: %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "fast", "-1M", "1Q", "NaN", "1e30", "M"} {
		if _, err := ParseRateFlag("--bandwidth", in); err == nil {
			t.Errorf("%q accepted", in)
		}
	}
}

func FuzzParseRateFlag(f *testing.F) {
	for _, s := range []string{"100M", "2.5Gbit", "0", "1e3k", "-1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := ParseRateFlag("--bandwidth", s)
		if err == nil && v < 0 {
			t.Fatalf("%q: negative rate %d", s, v)
		}
	})
}
