package nginxconf

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/tether-proxy/tether/conf"
)

// maxInt32 is NGX_MAX_INT32_VALUE, the largest value ngx_parse_time returns.
const maxInt32 = 1<<31 - 1

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
	return conf.ParseNginxTime(s, isSec)
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
