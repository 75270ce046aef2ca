package conf

import (
	"errors"
	"fmt"
	"time"
)

// maxInt32 is NGX_MAX_INT32_VALUE, the largest time ngx_parse_time returns.
const maxInt32 = 1<<31 - 1

// Steps of ngx_parse_time: units must appear from the most to the least
// significant, each at most once.
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

// ParseNginxTime parses an nginx time value the way ngx_parse_time
// (src/core/ngx_parse.c) does: numbers with units y (365d), M (30d), w, d,
// h, m, s and ms, combined from the most to the least significant unit
// ("1h30m", optionally separated by spaces: "1h 30m"); a number without a
// unit is seconds either way (ngx_parse_time multiplies a bare number by
// 1000 when !isSec). Like nginx, "ms" is
// rejected when isSec, and "y" and "M" are rejected when !isSec. Totals
// are limited to 2147483647 seconds (isSec) or milliseconds (!isSec).
//
// One deliberate difference: nginx does not range-check a trailing number
// without a unit (it overflows); here it is limited like the rest.
func ParseNginxTime(s string, isSec bool) (time.Duration, error) {
	var (
		value, total int64
		valid        bool
		step         = stStart
		scale        = int64(1)
		unit         = time.Second
	)
	if !isSec {
		step = stMonth
		scale = 1000
		unit = time.Millisecond
	}
	order := errors.New("units must go from the largest to the smallest, each at most once (y M w d h m s)")
	for i := 0; i < len(s); {
		c := s[i]
		if c >= '0' && c <= '9' {
			value = value*10 + int64(c-'0')
			if value > maxInt32 {
				return 0, errors.New("value too large")
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
				if !isSec {
					return 0, errors.New(`unit "y" is not allowed here`)
				}
				return 0, order
			}
			step, limit, scale = stYear, maxInt32/(60*60*24*365), 60*60*24*365
		case 'M':
			if step >= stMonth {
				if !isSec {
					return 0, errors.New(`unit "M" is not allowed here`)
				}
				return 0, order
			}
			step, limit, scale = stMonth, maxInt32/(60*60*24*30), 60*60*24*30
		case 'w':
			if step >= stWeek {
				return 0, order
			}
			step, limit, scale = stWeek, maxInt32/(60*60*24*7), 60*60*24*7
		case 'd':
			if step >= stDay {
				return 0, order
			}
			step, limit, scale = stDay, maxInt32/(60*60*24), 60*60*24
		case 'h':
			if step >= stHour {
				return 0, order
			}
			step, limit, scale = stHour, maxInt32/(60*60), 60*60
		case 'm':
			if i < len(s) && s[i] == 's' {
				if isSec {
					return 0, errors.New(`unit "ms" is not allowed here (the value is in seconds)`)
				}
				if step >= stMsec {
					return 0, order
				}
				i++
				step, limit, scale = stMsec, maxInt32, 1
				break
			}
			if step >= stMin {
				return 0, order
			}
			step, limit, scale = stMin, maxInt32/60, 60
		case 's':
			if step >= stSec {
				return 0, order
			}
			step, limit, scale = stSec, maxInt32, 1
		case ' ':
			if step >= stSec {
				return 0, order
			}
			step, limit, scale = stLast, maxInt32, 1
		default:
			return 0, fmt.Errorf("unexpected character %q (units: y M w d h m s ms)", c)
		}
		if step != stMsec && !isSec {
			scale *= 1000
			limit /= 1000
		}
		if value > limit {
			return 0, errors.New("value too large")
		}
		total += value * scale
		if total > maxInt32 {
			return 0, errors.New("value too large")
		}
		value = 0
		scale = 1
		if !isSec {
			scale = 1000
		}
		for i < len(s) && s[i] == ' ' {
			i++
		}
	}
	if !valid {
		return 0, errors.New("no number")
	}
	total += value * scale
	if total > maxInt32 {
		return 0, errors.New("value too large")
	}
	return time.Duration(total) * unit, nil
}
