package api

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// ParseSize reads a SIZE as SPEC.md defines it: plain bytes, or a number with K, M, G or T,
// optionally followed by "iB" or "B". Units are binary (1M = 1MiB = 1048576), as the kernel's
// cgroup files and `free` count. Fractions are allowed ("1.5G").
func ParseSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	num := strings.TrimRight(t, "KMGTiBkmgtb")
	unit := strings.ToUpper(t[len(num):])
	shift := map[string]uint{"": 0, "B": 0,
		"K": 10, "KB": 10, "KIB": 10, "M": 20, "MB": 20, "MIB": 20,
		"G": 30, "GB": 30, "GIB": 30, "T": 40, "TB": 40, "TIB": 40}
	sh, ok := shift[unit]
	if !ok || num == "" {
		return 0, Errorf(CodeInvalidParameterValue, "size %q is not understood: use bytes or a number with K, M, G or T (512M, 1GiB)", s)
	}
	v, err := strconv.ParseFloat(num, 64)
	if err != nil || v < 0 || math.IsNaN(v) || math.IsInf(v, 0) {
		return 0, Errorf(CodeInvalidParameterValue, "size %q is not a non-negative number", s)
	}
	bytes := v * float64(uint64(1)<<sh)
	if bytes >= math.MaxInt64 {
		return 0, Errorf(CodeInvalidParameterValue, "size %q is too large", s)
	}
	if bytes != math.Trunc(bytes) {
		return 0, Errorf(CodeInvalidParameterValue, "size %q is not a whole number of bytes", s)
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
