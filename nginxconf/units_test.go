package nginxconf

import (
	"testing"
	"time"
)

// TestParseTime follows ngx_parse_time: units from the largest to the smallest, ms only for
// millisecond directives, y and M only for second ones, a bare number is seconds.
func TestParseTime(t *testing.T) {
	tests := []struct {
		in    string
		isSec bool
		want  time.Duration // 0: an error is expected
	}{
		{"60s", false, time.Minute},
		{"60", false, time.Minute},
		{"86400", false, 24 * time.Hour},
		{"1h", false, time.Hour},
		{"1h30m", false, 90 * time.Minute},
		{"1h 30m", false, 90 * time.Minute},
		{"1m30s500ms", false, 90*time.Second + 500*time.Millisecond},
		{"500ms", false, 500 * time.Millisecond},
		{"1d", false, 24 * time.Hour},
		{"2w", false, 14 * 24 * time.Hour},
		{"30", true, 30 * time.Second},
		{"1m30", true, 90 * time.Second},
		{"1y", true, 365 * 24 * time.Hour},
		{"1M", true, 30 * 24 * time.Hour},
		{"24d", false, 24 * 24 * time.Hour},
		{"2147483647", true, 2147483647 * time.Second},
		{"1y", false, 0},
		{"1M", false, 0},
		{"5ms", true, 0},
		{"30m1h", false, 0},
		{"1h1h", false, 0},
		{"1x", false, 0},
		{"", false, 0},
		{"s", false, 0},
		{"25d", false, 0},
		{"2147484", false, 0},
		{"99999999999999999999", true, 0},
		{"1 2", false, 3 * time.Second},
		{"1 2 3", false, 0},
		{"5s ", false, 5 * time.Second},
	}
	for _, tc := range tests {
		got, err := ParseTime(tc.in, tc.isSec)
		switch {
		case tc.want == 0 && err == nil:
			t.Errorf("ParseTime(%q, %v) = %v, want an error", tc.in, tc.isSec, got)
		case tc.want != 0 && (err != nil || got != tc.want):
			t.Errorf("ParseTime(%q, %v) = %v, %v; want %v", tc.in, tc.isSec, got, err, tc.want)
		}
	}
}

func TestParseSize(t *testing.T) {
	tests := []struct {
		in   string
		want int64 // -1: an error is expected
	}{
		{"8k", 8 << 10}, {"8K", 8 << 10}, {"1m", 1 << 20}, {"2G", 2 << 30}, {"1024", 1024},
		{"", -1}, {"k", -1}, {"1.5k", -1}, {"-1", -1}, {"1kb", -1}, {"99999999999999999999", -1},
	}
	for _, tc := range tests {
		got, err := ParseSize(tc.in)
		if tc.want < 0 && err == nil || tc.want >= 0 && (err != nil || got != tc.want) {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", tc.in, got, err, tc.want)
		}
	}
}

func TestFormatDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		time.Hour: "1h", 90 * time.Minute: "1h30m", 24 * time.Hour: "24h", 1500 * time.Millisecond: "1s500ms", 0: "0s",
	} {
		if got := formatDuration(d); got != want {
			t.Errorf("formatDuration(%v) = %q, want %q", d, got, want)
		}
		if back, err := time.ParseDuration(formatDuration(d)); err != nil || back != d {
			t.Errorf("time.ParseDuration(%q) = %v, %v", formatDuration(d), back, err)
		}
	}
}
