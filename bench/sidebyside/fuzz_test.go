package main

import (
	"testing"
)

// FuzzProcParsers feeds arbitrary text to the parsers of /proc files, of the backend
// process's ready line and of strace's summary: they never panic, and what they accept is in
// range.
func FuzzProcParsers(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		if d, err := parseStatCPU(data); err == nil && d < 0 {
			t.Errorf("parseStatCPU = %v, want >= 0", d)
		}
		if v, err := parseStatusKB(data, "VmRSS:"); err == nil && v < 0 {
			t.Errorf("parseStatusKB = %d, want >= 0", v)
		}
		if m, err := parseProcStat(data); err == nil && (m.Busy < 0 || m.SoftIRQ > m.Busy || m.Steal < 0 || m.Total < m.Busy+m.Steal) {
			t.Errorf("parseProcStat = %+v: inconsistent", m)
		}
		if c, err := parseStraceSummary(string(data)); err == nil && (c.Total < 0 || c.Failed < 0) {
			t.Errorf("parseStraceSummary = %+v: negative total", c)
		}
		if a, err := parseBackendReady(string(data)); err == nil && (len(a.Plain) != numBackends || a.TLS == "" || a.RSA == "") {
			t.Errorf("parseBackendReady = %+v, want %d plain addresses and two TLS ones", a, numBackends)
		}
	})
}
