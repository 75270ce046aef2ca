package conf

import (
	"strings"
	"testing"
)

// TestMaxMemory pins max_memory's syntax: bytes, binary units as nginx writes sizes, "off";
// anything else is a problem naming the key and its line.
func TestMaxMemory(t *testing.T) {
	const doc = "max_memory = %s\n[[listeners]]\nname = \"a\"\nlisten = \"127.0.0.1:8443\"\nupstream = \"app\"\n[upstreams.app]\nservers = [\"127.0.0.1:3001\"]\n"
	tests := []struct {
		value string
		want  int64
		err   string // after "testdata/t.toml:"
	}{
		{`1048576`, 1 << 20, ""},
		{`"512MiB"`, 512 << 20, ""},
		{`"512m"`, 512 << 20, ""},
		{`"2g"`, 2 << 30, ""},
		{`"2G"`, 2 << 30, ""},
		{`"64KiB"`, 64 << 10, ""},
		{`"1t"`, 1 << 40, ""},
		{`"100"`, 100, ""},
		{`"off"`, MaxMemoryOff, ""},
		{`0`, 0, `1: max_memory: 0 out of range`},
		{`"512MB"`, 0, `1: max_memory: invalid size "512MB": units are binary, write MiB`},
		{`"1.5g"`, 0, `1: max_memory: invalid size "1.5g"`},
		{`"-1m"`, 0, `1: max_memory: invalid size "-1m"`},
		{`" 1m"`, 0, `1: max_memory: invalid size " 1m"`},
		{`"m"`, 0, `1: max_memory: invalid size "m"`},
		{`"9999999999t"`, 0, `1: max_memory: size 9999999999t is too large`},
		{`true`, 0, `1: max_memory: expected a size, got boolean true`},
	}
	for _, tc := range tests {
		t.Run(tc.value, func(t *testing.T) {
			c, err := Parse(testFile, []byte(strings.Replace(doc, "%s", tc.value, 1)))
			if tc.err != "" {
				checkProblemList(t, err, []string{tc.err})
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.MaxMemory != tc.want {
				t.Errorf("MaxMemory %d, want %d", c.MaxMemory, tc.want)
			}
		})
	}
}

// TestFDReserve pins fd_reserve: default 64, 0 turns the check off, negative is a problem.
func TestFDReserve(t *testing.T) {
	const rest = "[[listeners]]\nname = \"a\"\nlisten = \"127.0.0.1:8443\"\nupstream = \"app\"\n[upstreams.app]\nservers = [\"127.0.0.1:3001\"]\n"
	for _, tc := range []struct {
		head string
		want int
		err  string
	}{
		{"", 64, ""},
		{"fd_reserve = 0\n", 0, ""},
		{"fd_reserve = 1000\n", 1000, ""},
		{"fd_reserve = -1\n", 0, "1: fd_reserve: -1 out of range"},
	} {
		c, err := Parse(testFile, []byte(tc.head+rest))
		if tc.err != "" {
			checkProblemList(t, err, []string{tc.err})
			continue
		}
		if err != nil || c.FDReserve != tc.want {
			t.Errorf("%q: FDReserve %v (%v), want %d", tc.head, c, err, tc.want)
		}
	}
}

// FuzzParseSize checks that parseSize never panics and that every size it accepts is positive
// and written in digits with at most one known unit.
func FuzzParseSize(f *testing.F) {
	f.Fuzz(func(t *testing.T, s string) {
		n, err := parseSize(s)
		if err != nil {
			return
		}
		if n < 1 || s == "" || s[0] < '0' || s[0] > '9' {
			t.Fatalf("parseSize(%q) = %d", s, n)
		}
	})
}
