package main

import (
	"os"
	"runtime"
	"testing"
	"time"
)

func TestParseStatCPU(t *testing.T) {
	for _, tc := range []struct {
		name, stat string
		want       time.Duration
		wantErr    bool
	}{
		{"plain", "1234 (nginx) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 1 0 100 0 0", 3 * time.Second, false},
		// The command name may hold spaces and parentheses: fields count from the last ')'.
		{"odd name", "77 (a) b (c) R 1 77 77 0 -1 0 0 0 0 0 1 2 0 0 20 0 1 0", 30 * time.Millisecond, false},
		{"truncated", "77 (x) R 1 2 3", 0, true},
		{"no name", "garbage", 0, true},
		{"not a number", "1 (x) S 1 1 1 0 -1 0 0 0 0 0 x 2 0", 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseStatCPU([]byte(tc.stat))
			if (err != nil) != tc.wantErr || got != tc.want {
				t.Errorf("parseStatCPU = %v, %v; want %v, error %v", got, err, tc.want, tc.wantErr)
			}
		})
	}
}

func TestParseStatusKB(t *testing.T) {
	status := "Name:\tnginx\nVmPeak:\t  20000 kB\nVmRSS:\t   9876 kB\nThreads:\t1\n"
	for _, tc := range []struct {
		key     string
		want    int64
		wantErr bool
	}{
		{"VmRSS:", 9876 << 10, false},
		{"VmPeak:", 20000 << 10, false},
		{"Threads:", 0, true}, // no kB unit
		{"VmSwap:", 0, true},  // absent
	} {
		got, err := parseStatusKB([]byte(status), tc.key)
		if (err != nil) != tc.wantErr || got != tc.want {
			t.Errorf("parseStatusKB(%q) = %d, %v; want %d, error %v", tc.key, got, err, tc.want, tc.wantErr)
		}
	}
}

func TestParseProcStat(t *testing.T) {
	stat := "cpu  100 5 40 1000 7 1 9 3 0 0\ncpu0 50 2 20 500 3 0 4 1 0 0\nintr 1 2 3\n"
	got, err := parseProcStat([]byte(stat))
	if err != nil {
		t.Fatal(err)
	}
	tick := clockTick
	want := machineCPU{Busy: 155 * tick, SoftIRQ: 10 * tick, Steal: 3 * tick, Total: 1165 * tick}
	if got != want {
		t.Errorf("parseProcStat = %+v, want %+v", got, want)
	}
	if _, err := parseProcStat([]byte("intr 1 2\n")); err == nil {
		t.Error("parseProcStat without a cpu line: no error")
	}
}

// TestProcSelf reads the test process's own counters through /proc.
func TestProcSelf(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("/proc is Linux's")
	}
	pid := os.Getpid()
	if rss, err := procRSS(pid); err != nil || rss < 1<<20 {
		t.Errorf("procRSS(self) = %d, %v; want > 1 MiB", rss, err)
	}
	if n, err := procFDs(pid); err != nil || n < 3 {
		t.Errorf("procFDs(self) = %d, %v; want >= 3", n, err)
	}
	if _, err := procCPU(pid); err != nil {
		t.Errorf("procCPU(self): %v", err)
	}
	if m, err := readMachineCPU(); err != nil || m.Total <= m.Busy {
		t.Errorf("readMachineCPU = %+v, %v; want total > busy", m, err)
	}
}
