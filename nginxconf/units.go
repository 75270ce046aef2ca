package nginxconf

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// maxInt32 is NGX_MAX_INT32_VALUE, the largest value ngx_parse_time returns.
const maxInt32 = 1<<31 - 1

// Steps of ngx_parse_time: units must appear from the most to the least significant, each
// at most once.
const (
	stStart = iota
	stYear
	stMonth
	stWeek
	stDay
	stHour
	stMin
	stSec
	stMsec
	stLast
)

// errUnitOrder says the units must go from the largest to the smallest.
var errUnitOrder = errors.New("units must go from the largest to the smallest, each at most once (y M w d h m s ms)")

// ParseTime parses an nginx time exactly as ngx_parse_time (src/core/ngx_parse.c, nginx
// 1.22) does. A directive stored in milliseconds (isSec false: proxy_timeout,
// proxy_connect_timeout, proxy_read_timeout, ssl_handshake_timeout, ...) takes the units ms,
// s, m, h, d and w; one stored in seconds (isSec true: fail_timeout, ...) also takes y (365d)
// and M (30d), not ms. Either way a number without a unit is seconds (nginx multiplies it by
// 1000 in millisecond mode): "proxy_read_timeout 86400" is a day. Units go from the largest
// to the smallest, each at most once; a space may separate them ("1h 30m") and ends the
// units (a number after "1 " is added as seconds, as nginx does). The total is limited to
// 2147483647 of the base unit (seconds or milliseconds).
func ParseTime(s string, isSec bool) (time.Duration, error) {
	var (
		value, total int64
		valid        bool
		step         = stStart
		scale        = int64(1)
		unit         = time.Second
	)
	if !isSec {
		step, scale, unit = stMonth, 1000, time.Millisecond
	}
	bad := func(err error) (time.Duration, error) { return 0, fmt.Errorf("invalid time %q: %w", s, err) }
	tooLarge := errors.New("value too large")
	for i := 0; i < len(s); {
		c := s[i]
		if c >= '0' && c <= '9' {
			value = value*10 + int64(c-'0')
			if value > maxInt32 {
				return bad(tooLarge)
			}
			valid = true
			i++
			continue
		}
		i++
		var limit int64
		switch c {
		case 'y':
			if step > stStart {
				return bad(errUnitOrder)
			}
			step, limit, scale = stYear, maxInt32/(365*24*3600), 365*24*3600
		case 'M':
			if step >= stMonth {
				return bad(errUnitOrder)
			}
			step, limit, scale = stMonth, maxInt32/(30*24*3600), 30*24*3600
		case 'w':
			if step >= stWeek {
				return bad(errUnitOrder)
			}
			step, limit, scale = stWeek, maxInt32/(7*24*3600), 7*24*3600
		case 'd':
			if step >= stDay {
				return bad(errUnitOrder)
			}
			step, limit, scale = stDay, maxInt32/(24*3600), 24*3600
		case 'h':
			if step >= stHour {
				return bad(errUnitOrder)
			}
			step, limit, scale = stHour, maxInt32/3600, 3600
		case 'm':
			if i < len(s) && s[i] == 's' {
				if isSec || step >= stMsec {
					return bad(errors.New(`unit "ms" is not allowed here`))
				}
				i++
				step, limit, scale = stMsec, maxInt32, 1
				break
			}
			if step >= stMin {
				return bad(errUnitOrder)
			}
			step, limit, scale = stMin, maxInt32/60, 60
		case 's':
			if step >= stSec {
				return bad(errUnitOrder)
			}
			step, limit, scale = stSec, maxInt32, 1
		case ' ':
			if step >= stSec {
				return bad(errUnitOrder)
			}
			step, limit, scale = stLast, maxInt32, 1
		default:
			return bad(fmt.Errorf("unexpected %q (units: y M w d h m s ms)", c))
		}
		if step != stMsec && !isSec {
			scale *= 1000
			limit /= 1000
		}
		if value > limit {
			return bad(tooLarge)
		}
		total += value * scale
		if total > maxInt32 {
			return bad(tooLarge)
		}
		value, scale = 0, 1
		if !isSec {
			scale = 1000
		}
		for i < len(s) && s[i] == ' ' {
			i++
		}
	}
	if !valid {
		return bad(errors.New("no number"))
	}
	total += value * scale
	if total > maxInt32 {
		return bad(tooLarge)
	}
	return time.Duration(total) * unit, nil
}

// ParseSize parses an nginx size the way ngx_parse_size does: a number of bytes, optionally
// followed by k/K (KiB), m/M (MiB) or g/G (GiB).
func ParseSize(s string) (int64, error) {
	if s == "" {
		return 0, errors.New("empty size")
	}
	scale := int64(1)
	num := s
	switch s[len(s)-1] {
	case 'k', 'K':
		scale, num = 1<<10, s[:len(s)-1]
	case 'm', 'M':
		scale, num = 1<<20, s[:len(s)-1]
	case 'g', 'G':
		scale, num = 1<<30, s[:len(s)-1]
	}
	if num == "" || strings.TrimLeft(num, "0123456789") != "" {
		return 0, fmt.Errorf("invalid size %q (want a number of bytes, optionally with k, m or g)", s)
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n > (1<<62)/scale {
		return 0, fmt.Errorf("invalid size %q: too large", s)
	}
	return n * scale, nil
}

// formatDuration writes d in Go syntax, which tether's TOML uses, without zero parts:
// "1h30m", "10m", "90s", "500ms".
func formatDuration(d time.Duration) string {
	if d == 0 {
		return "0s"
	}
	var b strings.Builder
	parts := []struct {
		unit time.Duration
		name string
	}{{time.Hour, "h"}, {time.Minute, "m"}, {time.Second, "s"}, {time.Millisecond, "ms"}}
	for _, p := range parts {
		if n := d / p.unit; n > 0 {
			fmt.Fprintf(&b, "%d%s", n, p.name)
			d -= n * p.unit
		}
	}
	if d > 0 {
		fmt.Fprintf(&b, "%dns", d)
	}
	return b.String()
}
