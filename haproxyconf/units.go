package haproxyconf

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// ParseTime reads an HAProxy time (parse_time_err in src/tools.c): a decimal number with an
// optional unit us, ms, s, m, h or d; without a unit, milliseconds.
func ParseTime(s string) (time.Duration, error) {
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	if i == 0 || i > 12 {
		return 0, fmt.Errorf("invalid time %q (want a number with an optional unit us, ms, s, m, h or d; milliseconds without)", s)
	}
	n, _ := strconv.ParseInt(s[:i], 10, 64)
	units := map[string]time.Duration{"": time.Millisecond, "us": time.Microsecond, "ms": time.Millisecond,
		"s": time.Second, "m": time.Minute, "h": time.Hour, "d": 24 * time.Hour}
	u, ok := units[strings.ToLower(s[i:])]
	if !ok {
		return 0, fmt.Errorf("invalid time %q: unknown unit %q (us, ms, s, m, h or d)", s, s[i:])
	}
	if n > int64(1<<62)/int64(u) {
		return 0, fmt.Errorf("invalid time %q: too large", s)
	}
	return time.Duration(n) * u, nil
}

// formatDuration writes d in Go syntax, which tether's TOML uses, without zero parts:
// "1h30m", "10m", "90s", "500ms".
func formatDuration(d time.Duration) string {
	if d == 0 {
		return "0s"
	}
	var b strings.Builder
	for _, p := range []struct {
		unit time.Duration
		name string
	}{{time.Hour, "h"}, {time.Minute, "m"}, {time.Second, "s"}, {time.Millisecond, "ms"}} {
		if n := d / p.unit; n > 0 {
			fmt.Fprintf(&b, "%d%s", n, p.name)
			d -= n * p.unit
		}
	}
	if d > 0 {
		fmt.Fprintf(&b, "%dus", d/time.Microsecond)
	}
	return b.String()
}
