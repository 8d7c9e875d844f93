package progress

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// sizeUnits are the units ParseSize knows, lower case: decimal (kB, MB,
// GB, TB) and binary (KiB, MiB, GiB, TiB).
var sizeUnits = map[string]float64{
	"": 1, "b": 1,
	"kb": 1e3, "mb": 1e6, "gb": 1e9, "tb": 1e12,
	"kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30, "tib": 1 << 40,
}

// ParseSize reads a byte count with an optional unit: "0", "4096",
// "100MB" (10^8), "16MiB" (2^24), "1.5GiB". Units are case-insensitive;
// a space may separate number and unit. Negative counts and counts past
// 2^62 are refused.
func ParseSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	i := strings.IndexFunc(t, func(r rune) bool { return (r < '0' || r > '9') && r != '.' })
	if i < 0 {
		i = len(t)
	}
	num, unit := t[:i], strings.ToLower(strings.TrimSpace(t[i:]))
	mult, ok := sizeUnits[unit]
	if num == "" || !ok {
		return 0, fmt.Errorf("size %q: want a number and a unit such as 16MiB or 100MB", s)
	}
	v, err := strconv.ParseFloat(num, 64)
	if err != nil {
		return 0, fmt.Errorf("size %q: %w", s, err)
	}
	n := v * mult
	if math.IsNaN(n) || n > 1<<62 {
		return 0, fmt.Errorf("size %q: %w", s, errTooLarge)
	}
	return int64(math.Round(n)), nil
}

var errTooLarge = errors.New("too large")

// ParseRate reads a size per second, as ParseSize, with an optional "/s"
// after the unit: "16MiB", "16MiB/s", "0" (which callers take as
// unlimited).
func ParseRate(s string) (int64, error) {
	t := strings.TrimSpace(s)
	t = strings.TrimSuffix(strings.TrimSuffix(t, "/s"), "/S")
	n, err := ParseSize(t)
	if err != nil {
		return 0, fmt.Errorf("rate: %w", err)
	}
	return n, nil
}
