package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/http/pprof"
	"os"
	"os/exec"
	"path/filepath"
	rpprof "runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestProfileSeconds(t *testing.T) {
	for _, tc := range []struct {
		window time.Duration
		want   int
	}{
		{0, 1},
		{500 * time.Millisecond, 1},
		{time.Second, 1},
		{2 * time.Second, 2},
		{2500 * time.Millisecond, 3},
	} {
		if got := profileSeconds(tc.window); got != tc.want {
			t.Errorf("profileSeconds(%v) = %d, want %d", tc.window, got, tc.want)
		}
	}
}

// TestTakeProfile: the profile is asked for with the window's whole seconds and saved as
// DIR/<test>.pprof; a proxy without pprof or without a listener gives the reason instead.
func TestTakeProfile(t *testing.T) {
	closed, err := freePorts(1)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		handler http.Handler // nil: nothing listens
		want    string       // in Missing; "" means a saved profile
	}{
		{"saved", http.HandlerFunc(pprof.Profile), ""},
		{"pprof off", http.NotFoundHandler(), "404 Not Found"},
		{"no listener", nil, "connection refused"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr := "127.0.0.1:" + strconv.Itoa(closed[0])
			var query atomic.Value
			if tc.handler != nil {
				srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					query.Store(r.URL.Path + "?" + r.URL.RawQuery)
					tc.handler.ServeHTTP(w, r)
				}))
				defer srv.Close()
				addr = strings.TrimPrefix(srv.URL, "http://")
			}
			dir := t.TempDir()
			p := takeProfile(context.Background(), addr, dir, "connrate", 500*time.Millisecond)
			if p.Test != "connrate" || p.Seconds != 1 || p.Window != 500*time.Millisecond {
				t.Errorf("result %+v, want test connrate, 1 s over a 500ms window", p)
			}
			if tc.handler != nil && query.Load() != "/debug/pprof/profile?seconds=1" {
				t.Errorf("asked for %v, want /debug/pprof/profile?seconds=1", query.Load())
			}
			if tc.want != "" {
				if p.File != "" || !strings.Contains(p.Missing, tc.want) {
					t.Errorf("result %+v, want no file and a reason with %q", p, tc.want)
				}
				return
			}
			want := filepath.Join(dir, "connrate.pprof")
			b, err := os.ReadFile(want)
			if p.File != want || p.Missing != "" || err != nil || !strings.HasPrefix(string(b), "\x1f\x8b") {
				t.Errorf("result %+v (file: %v, %d bytes), want a gzipped profile in %s", p, err, len(b), want)
			}
		})
	}
}

// TestAtWindow: every load run calls the probe's atWindow once, as its window opens.
func TestAtWindow(t *testing.T) {
	plain, _ := startTestBackends(t)
	tm := timing{Warm: 20 * time.Millisecond, Window: 300 * time.Millisecond} // a connection started in it completes, even on a busy machine
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		run  func(probe) error
	}{
		{"bulk", func(pr probe) error { _, err := runBulk(ctx, plain, modeSink, tm, pr); return err }},
		{"pingpong", func(pr probe) error { _, err := runPingPong(ctx, plain, 64, 2, tm, pr); return err }},
		{"connrate", func(pr probe) error { _, err := runConnRate(ctx, plain, 2, tm, pr); return err }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var calls atomic.Int32
			var at atomic.Int64
			start := time.Now()
			if err := tc.run(probe{atWindow: func() { calls.Add(1); at.Store(int64(time.Since(start))) }}); err != nil {
				t.Fatal(err)
			}
			if n, d := calls.Load(), time.Duration(at.Load()); n != 1 || d < tm.Warm {
				t.Errorf("atWindow called %d times, at %v; want once, after the %v warm-up", n, d, tm.Warm)
			}
		})
	}
}

// TestPprofTop: `go tool pprof -top` reads a real CPU profile of this test binary.
func TestPprofTop(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go command")
	}
	if testing.Short() {
		t.Skip("runs go tool pprof")
	}
	file := filepath.Join(t.TempDir(), "cpu.pprof")
	f, err := os.Create(file)
	if err != nil {
		t.Fatal(err)
	}
	if err := rpprof.StartCPUProfile(f); err != nil {
		t.Skipf("CPU profiling unavailable: %v", err)
	}
	sink = burnCPU(300 * time.Millisecond)
	rpprof.StopCPUProfile()
	f.Close()
	bin, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	top, err := pprofTop(context.Background(), bin, file)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Type: cpu", "flat  flat%", "burnCPU"} {
		if !strings.Contains(top, want) {
			t.Errorf("pprof -top lacks %q:\n%s", want, top)
		}
	}
	if _, err := pprofTop(context.Background(), bin, filepath.Join(t.TempDir(), "none.pprof")); err == nil {
		t.Error("pprofTop of a missing file: no error")
	}
}

// sink keeps burnCPU's result, so that its loop is not optimized away.
var sink int

//go:noinline
func burnCPU(d time.Duration) int {
	n := 0
	for end := time.Now().Add(d); time.Now().Before(end); {
		for i := range 1000 {
			n += i * i
		}
	}
	return n
}

func TestRenderProfiles(t *testing.T) {
	ps := []*profileResult{
		{Test: "connrate", File: "/tmp/prof/connrate.pprof", Seconds: 2, Window: 2 * time.Second, Top: "Type: cpu\n      flat  flat%\n     100ms 50%  syscall.Syscall6"},
		{Test: "tls-handshake", Seconds: 2, Window: 2 * time.Second, Missing: "CPU profile: GET http://127.0.0.1:1/debug/pprof/profile?seconds=2: 404 Not Found:\n404 page not found"},
		{Test: "bulk-up", File: "/tmp/prof/bulk-up.pprof", Seconds: 1, Window: 500 * time.Millisecond, Missing: "go tool pprof: exit status 1"},
		{Test: "idle", Missing: "a memory test has no load window"},
	}
	r := &report{Outcomes: []*outcome{fakeOutcome(testByID(t, "connrate"), map[string][]metrics{nameTether: {{mCPS: 9000}}})}}
	if got := r.render(); strings.Contains(got, "Profiles") {
		t.Errorf("a report without -profile has a Profiles section:\n%s", got)
	}
	r.Profiles = ps
	got := r.render()
	for _, want := range []string{
		"\n## Profiles\n\n",
		"top 12 functions by flat CPU, `go tool pprof -top -nodecount=12 TETHER-BINARY FILE`",
		"### `connrate`\n\n`/tmp/prof/connrate.pprof`: 2 s from the start of the 2s window.\n\n```text\nType: cpu\n      flat  flat%\n     100ms 50%  syscall.Syscall6\n```\n",
		"### `tls-handshake`\n\nNo profile: CPU profile: GET http://127.0.0.1:1/debug/pprof/profile?seconds=2: 404 Not Found: 404 page not found\n",
		"`/tmp/prof/bulk-up.pprof`: 1 s from the start of the 500ms window.\n\nNo top list: go tool pprof: exit status 1\n",
		"### `idle`\n\nNo profile: a memory test has no load window\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("report lacks %q:\n%s", want, got)
		}
	}
	if i, j := strings.Index(got, "## Targets"), strings.Index(got, "## Profiles"); i < 0 || j < i {
		t.Errorf("Profiles (at %d) should follow Targets (at %d)", j, i)
	}
}

// TestProfileResults: one entry per selected test tether ran in, saying why a profile is
// missing; none when tether did not run.
func TestProfileResults(t *testing.T) {
	failed := &profileResult{Test: "connrate", Seconds: 2, Missing: "CPU profile: connection refused"}
	h := &harness{ctx: context.Background(), profiles: map[string]*profileResult{"connrate": failed}}
	sel := []*testDef{testByID(t, "connrate"), testByID(t, "tls-handshake"), testByID(t, "idle")}
	byName := func(names ...string) []*proxyDef {
		var defs []*proxyDef
		for _, d := range proxyDefs {
			if slices.Contains(names, d.Name) {
				defs = append(defs, d)
			}
		}
		return defs
	}
	for _, tc := range []struct {
		name string
		defs []*proxyDef
		want []string // test: start of Missing
	}{
		{"tether", byName(nameTether, nameNginx), []string{
			"connrate: CPU profile: connection refused",
			"tls-handshake: no run of tether reached its measurement window",
			"idle: a memory test has no load window",
		}},
		{"no tether", byName(nameNginx), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			for _, p := range h.profileResults(sel, tc.defs, "tether") {
				got = append(got, p.Test+": "+p.Missing)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
			for i := range got {
				if !strings.HasPrefix(got[i], tc.want[i]) {
					t.Errorf("entry %d = %q, want %q…", i, got[i], tc.want[i])
				}
			}
		})
	}
}
