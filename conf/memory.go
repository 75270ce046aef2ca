package conf

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// MaxMemoryOff is Config.MaxMemory when max_memory = "off": no memory limit, not even the
// cgroup's share.
const MaxMemoryOff = -1

// MemoryShare is the share of the cgroup's memory limit that max_memory defaults to. The rest
// is left to what the cgroup charges beside tether's resident memory: kernel socket buffers,
// page cache, and the garbage collector's overshoot.
const MemoryShare = 0.8

// memoryUnits are the suffixes max_memory accepts, binary like nginx's sizes ("512m").
var memoryUnits = []struct {
	suffix string
	shift  uint
}{
	{"KiB", 10}, {"MiB", 20}, {"GiB", 30}, {"TiB", 40},
	{"k", 10}, {"m", 20}, {"g", 30}, {"t", 40},
	{"K", 10}, {"M", 20}, {"G", 30}, {"T", 40},
}

// parseMemory decodes max_memory: an integer of bytes, a string with a binary unit ("512MiB",
// "2g", as nginx writes sizes) or "off".
func parseMemory(v any) (int64, error) {
	const want = `want bytes, a size such as "512MiB" or "2g", or "off"`
	switch v := v.(type) {
	case int64:
		if v < 1 {
			return 0, fmt.Errorf("%d out of range (%s)", v, want)
		}
		return v, nil
	case string:
		if v == "off" {
			return MaxMemoryOff, nil
		}
		return parseSize(v)
	}
	return 0, fmt.Errorf("expected a size, got %s (%s)", describe(v), want)
}

// parseSize parses "N" or "N<unit>" with a binary unit into bytes, at least 1.
func parseSize(s string) (int64, error) {
	num, shift := s, uint(0)
	for _, u := range memoryUnits {
		if strings.HasSuffix(s, u.suffix) {
			num, shift = strings.TrimSuffix(s, u.suffix), u.shift
			break
		}
	}
	if u := strings.TrimSuffix(s, "B"); shift == 0 && u != s && u != "" && strings.ContainsAny(u[len(u)-1:], "kKmMgGtT") {
		return 0, fmt.Errorf("invalid size %q: units are binary, write %siB", s, strings.ToUpper(u[len(u)-1:]))
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n < 1 || strings.ContainsFunc(num, func(r rune) bool { return r < '0' || r > '9' }) {
		return 0, fmt.Errorf("invalid size %q (%s)", s, `want a positive integer with an optional unit: k, m, g, t or KiB, MiB, GiB, TiB`)
	}
	if n > (1<<62)>>shift {
		return 0, errors.New("size " + s + " is too large")
	}
	return n << shift, nil
}
