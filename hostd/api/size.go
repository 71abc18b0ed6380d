package api

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// SizeForms says what a SIZE may look like, for messages that ask for one.
const SizeForms = "give bytes or a number with K, M, G or T, as 512M, 512MiB, 1G, 1GiB or 4096 (binary units: 1M = 1MiB = 1048576 bytes)"

// ParseSize reads a SIZE as SPEC.md defines it: plain bytes, or a number with K, M, G or T,
// optionally followed by "iB" or "B". Units are binary (1M = 1MiB = 1048576), as the kernel's
// cgroup files and `free` count. Fractions are allowed ("1.5G").
func ParseSize(s string) (int64, error) { return parseSize("size", s) }

// ParseSizeFlag is ParseSize for the value of a command-line flag such as "--memory": its error
// names the flag and the forms a SIZE takes.
func ParseSizeFlag(flag, s string) (int64, error) { return parseSize(flag, s) }

// parseSize reads s; what names it in errors.
func parseSize(what, s string) (int64, error) {
	bad := func(why string) error {
		return Errorf(CodeInvalidParameterValue, "%s %q %s: %s", what, s, why, SizeForms)
	}
	t := strings.TrimSpace(s)
	num := strings.TrimRight(t, "KMGTiBkmgtb")
	unit := strings.ToUpper(t[len(num):])
	shift := map[string]uint{"": 0, "B": 0,
		"K": 10, "KB": 10, "KIB": 10, "M": 20, "MB": 20, "MIB": 20,
		"G": 30, "GB": 30, "GIB": 30, "T": 40, "TB": 40, "TIB": 40}
	sh, ok := shift[unit]
	if !ok || num == "" {
		return 0, bad("is not a size")
	}
	v, err := strconv.ParseFloat(num, 64)
	switch {
	case err != nil || math.IsNaN(v) || math.IsInf(v, 0):
		return 0, bad("is not a size")
	case v < 0:
		return 0, bad("is negative")
	}
	bytes := v * float64(uint64(1)<<sh)
	if bytes >= math.MaxInt64 {
		return 0, Errorf(CodeInvalidParameterValue, "%s %q is too large", what, s)
	}
	if bytes != math.Trunc(bytes) {
		return 0, bad("is not a whole number of bytes")
	}
	return int64(bytes), nil
}

// FormatSize prints n bytes the way ParseSize reads them, in the largest exact binary unit.
func FormatSize(n int64) string {
	for _, u := range []struct {
		suffix string
		shift  uint
	}{{"TiB", 40}, {"GiB", 30}, {"MiB", 20}, {"KiB", 10}} {
		if n != 0 && n%(1<<u.shift) == 0 {
			return fmt.Sprintf("%d%s", n>>u.shift, u.suffix)
		}
	}
	return strconv.FormatInt(n, 10)
}
