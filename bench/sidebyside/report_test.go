package main

import (
	"math"
	"strings"
	"testing"
	"time"
)

func testByID(t *testing.T, id string) *testDef {
	t.Helper()
	for _, tc := range tests {
		if tc.ID == id {
			return tc
		}
	}
	t.Fatalf("no test %s", id)
	return nil
}

// fakeOutcome gives every named participant runs with the ratio metric (and others) set.
func fakeOutcome(td *testDef, runs map[string][]metrics) *outcome {
	var names []string
	for _, n := range []string{nameDirect, nameTether, nameNginx, nameHAProxy, nameHAProxyAuto, nameHAProxyOn} {
		if _, ok := runs[n]; ok {
			names = append(names, n)
		}
	}
	o := newOutcome(td, names)
	for n, ms := range runs {
		o.Runs[n] = ms
	}
	return o
}

func TestRenderTableBulk(t *testing.T) {
	nan := math.NaN()
	o := fakeOutcome(testByID(t, "bulk-up"), map[string][]metrics{
		nameDirect: {{mGbps: 30, mCPU: nan, mGbpsPerCore: nan, mOther: 0.1, mSteal: 0, mSoftIRQ: 0.3}},
		nameTether: {{mGbps: 20, mCPU: 0.5, mGbpsPerCore: 40}, {mGbps: 24, mCPU: 0.6, mGbpsPerCore: 40}, {mGbps: 22, mCPU: 0.55, mGbpsPerCore: 40}},
		nameNginx:  {{mGbps: 11, mCPU: 1, mGbpsPerCore: 11}},
	})
	o.Names = append(o.Names, nameHAProxy)
	o.Errs[nameHAProxy] = []string{"connection refused"}
	o.Errs[nameTether] = []string{"reset"}
	o.Runs[nameNginx][0][mNoisy] = 1
	o.Repeated, o.MaxOther = 3, 0.3
	var b strings.Builder
	renderTable(&b, o)
	renderRaw(&b, []*outcome{o})
	got := b.String()
	for _, want := range []string{
		"### Plain bulk throughput, client → backend (`bulk-up`)",
		"|  | Gbit/s | proxy CPU (cores) | Gbit/s per proxy core | ÷ direct | ÷ tether | ÷ nginx |",
		// tether: median of 20, 22, 24 with its range; 22/30, 22/22, 22/11.
		"| **tether** | 22.00 (20.00–24.00) | 0.55 (0.50–0.60) | 40.0 | 0.73× | 1.00× | 2.00× |",
		"| **direct** | 30.00 | – | – | 1.00× | 1.36× | 2.73× |",
		"| **haproxy** | failed: connection refused |",
		"Failed runs: tether: reset.",
		"higher is better",
		"median 0.10 cores",
		"3 run(s) repeated because other processes used more than 0.30 cores; 1 kept that noise",
		"| bulk-up gbps | nginx | 11.00* |",
		"| bulk-up gbps | haproxy | error |",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("table lacks %q:\n%s", want, got)
		}
	}
}

func TestRenderTableLatency(t *testing.T) {
	o := fakeOutcome(testByID(t, "pingpong-64-c1"), map[string][]metrics{
		nameDirect: {{mP50: 20, mP99: 80, mP999: 100, mRTPS: 40000}},
		nameNginx:  {{mP50: 70, mP99: 160, mP999: 300, mRTPS: 14000, mCPU: 0.4}},
	})
	var b strings.Builder
	renderTable(&b, o)
	want := "| **nginx** | 70 | 160 | 300 | 14000 | 0.40 | 50 | 80 | 0.35× | 1.00× |"
	if !strings.Contains(b.String(), want) {
		t.Errorf("latency table lacks %q:\n%s", want, b.String())
	}
	// With 32 connections there is no "added" column.
	o.Test = testByID(t, "pingpong-64-c32")
	b.Reset()
	renderTable(&b, o)
	if strings.Contains(b.String(), "added") {
		t.Errorf("32-connection table has added-latency columns:\n%s", b.String())
	}
}

func TestRenderTableIdle(t *testing.T) {
	o := fakeOutcome(testByID(t, "idle"), map[string][]metrics{
		nameTether: {{mKiB: 2, mKiB16K: 2.2, mFDs: 2, mBaseMiB: 10}},
		nameNginx:  {{mKiB: 10, mKiB16K: 33.5, mFDs: 2, mBaseMiB: 16}},
	})
	var b strings.Builder
	renderTable(&b, o)
	for _, want := range []string{"| **tether** | 2.0 | 2.2 | 2.00 | 10.0 | 1.00× | 0.20× |", "lower is better"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("idle table lacks %q:\n%s", want, b.String())
		}
	}
	if strings.Contains(b.String(), "direct") {
		t.Errorf("idle table mentions direct:\n%s", b.String())
	}
}

func TestTargets(t *testing.T) {
	outs := []*outcome{
		fakeOutcome(testByID(t, "bulk-up"), map[string][]metrics{
			nameTether:    {{mGbps: 24, mGbpsPerCore: 29}},
			nameHAProxyOn: {{mGbps: 20, mGbpsPerCore: 26}},
		}),
		fakeOutcome(testByID(t, "pingpong-64-c1"), map[string][]metrics{
			nameDirect: {{mP50: 20, mP99: 80}},
			nameTether: {{mP50: 50, mP99: 120}},
			nameNginx:  {{mP50: 70, mP99: 160}},
		}),
		fakeOutcome(testByID(t, "idle"), map[string][]metrics{
			nameTether: {{mKiB: 2.5, mKiB16K: 3}},
		}),
		fakeOutcome(testByID(t, "storm"), map[string][]metrics{
			nameDirect: {{mStormSecs: 4}},
			nameTether: {{mStormSecs: 4.5, mCPUPerReconnect: 0.35}},
			nameNginx:  {{mStormSecs: 5, mCPUPerReconnect: 0.5}},
		}),
		fakeOutcome(testByID(t, "syscalls"), map[string][]metrics{
			nameTether: {{mSyscalls: 18}},
			nameNginx:  {{mSyscalls: 17}},
		}),
		fakeOutcome(testByID(t, "connrate"), map[string][]metrics{
			nameTether: {{mCPS: 12000, mCPSPerCore: 13000}},
			nameNginx:  {{mCPS: 10000, mCPSPerCore: 13000}},
		}),
	}
	var b strings.Builder
	renderTargets(&b, outs)
	// nginx's p99 below direct's: no ratio to take, and no PASS from a negative one.
	outs[1] = fakeOutcome(testByID(t, "pingpong-64-c1"), map[string][]metrics{
		nameDirect: {{mP50: 20, mP99: 80}},
		nameTether: {{mP50: 50, mP99: 120}},
		nameNginx:  {{mP50: 70, mP99: 78}},
	})
	var noisy strings.Builder
	renderTargets(&noisy, outs)
	if want := "| 3 | added p99 latency (64 B, 1 conn) ≤ 0.75× nginx's | tether +40 µs, nginx -2 µs over direct 80 µs | – | ≤ 0.75 | no verdict |"; !strings.Contains(noisy.String(), want) {
		t.Errorf("targets with nginx under direct lack %q:\n%s", want, noisy.String())
	}
	got := b.String()
	for _, want := range []string{
		"| 3 | plain bulk up ≥ 1.2× HAProxy forced splice | tether 24.0 Gbit/s, haproxy-splice 20.0 | 1.20 | ≥ 1.20 | PASS |",
		"| 11 | plain bulk up ≥ 1.0× HAProxy forced splice | tether 24.0 Gbit/s, haproxy-splice 20.0 | 1.20 | ≥ 1.00 | PASS |",
		"| 11 | plain bulk up per proxy core ≥ 1.3× HAProxy forced splice | tether 29.0 Gbit/s/core, haproxy-splice 26.0 | 1.12 | ≥ 1.30 | MISS |",
		"| 3 | plain bulk up ≥ 30 Gbit/s per proxy core | tether 29.0 Gbit/s/core (target 30) | 0.97 | ≥ 1.00 | MISS |",
		"| 3, 11 | added p50 latency (64 B, 1 conn) ≤ 0.75× nginx's | tether +30 µs, nginx +50 µs over direct 20 µs | 0.60 | ≤ 0.75 | PASS |",
		"| 3 | added p99 latency (64 B, 1 conn) ≤ 0.75× nginx's | tether +40 µs, nginx +80 µs over direct 80 µs | 0.50 | ≤ 0.75 | PASS |",
		"| 3, 11 | idle RSS/conn plain ≤ 2.5 KiB | tether 2.5 KiB (target 2.5) | 1.00 | ≤ 1.00 | PASS |",
		"| 3 | idle RSS/conn plain after 16 KiB echo ≤ 2.5 KiB | tether 3.0 KiB (target 2.5) | 1.20 | ≤ 1.00 | MISS |",
		"| 3, 11 | TLS bulk up ≥ 1.1× nginx | not measured | – | ≥ 1.10 | – |",
		"| 11 | reconnect storm (full handshakes): all back ≤ 0.9× nginx's time | tether 4.50 s, nginx 5.00 | 0.90 | ≤ 0.90 | PASS |",
		"| 11 | reconnect storm (full handshakes): proxy CPU per reconnect ≤ 0.7× nginx's | tether 0.350 ms, nginx 0.500 | 0.70 | ≤ 0.70 | PASS |",
		"| 11 | system calls per plain connection ≤ nginx's | tether 18.0 calls/conn, nginx 17.0 | 1.06 | ≤ 1.00 | MISS |",
		"| 3, 11 | plain conn/s ≥ 1.2× nginx | tether 12000 conn/s, nginx 10000 | 1.20 | ≥ 1.20 | PASS |",
		"| 11 | plain conn/s per proxy core ≥ 1.2× nginx | tether 13000 conn/s/core, nginx 13000 | 1.00 | ≥ 1.20 | MISS |",
		"| 11 | TLS ECDSA handshakes/s, browser-like client ≥ 1.1× nginx | not measured | – | ≥ 1.10 | – |",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("targets lack %q:\n%s", want, got)
		}
	}
	if n := strings.Count(got, "\n| "); n != len(goals) { // rows after the header line
		t.Errorf("%d table rows, want %d goals", n, len(goals))
	}
}

func TestReportRender(t *testing.T) {
	r := &report{
		Started:  time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC),
		Took:     9 * time.Minute,
		Command:  "go run ./bench/sidebyside",
		Machine:  []machineLine{{"CPUs (nproc)", "2"}, {"kernel", "a|b"}},
		Setup:    []string{"one"},
		Notes:    []string{"haproxy is not installed: left out"},
		Outcomes: []*outcome{fakeOutcome(testByID(t, "connrate"), map[string][]metrics{nameTether: {{mCPS: 9000}}})},
	}
	got := r.render()
	for _, want := range []string{
		"Run 2026-11-23 10:00 UTC, took 9m0s: `go run ./bench/sidebyside`",
		"| CPUs (nproc) | 2 |", "| kernel | a\\|b |", "- one", "## Notes", "- haproxy is not installed: left out",
		"### Plain connection rate (`connrate`)", "## Targets", "| connrate conn/s | tether | 9000.00 |",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("report lacks %q:\n%s", want, got)
		}
	}
}

func TestFmtSummary(t *testing.T) {
	for _, tc := range []struct {
		s    summary
		prec int
		want string
	}{
		{summary{Median: 22, Min: 20, Max: 24, N: 3}, 2, "22.00 (20.00–24.00)"},
		{summary{Median: 8.2, Min: 7.9, Max: 8.4, N: 3}, 0, "8"}, // the range rounds away
		{summary{Median: 5, Min: 4, Max: 6, N: 1}, 1, "5.0"},
		{summary{Median: math.NaN(), N: 0}, 1, "–"},
	} {
		if got := fmtSummary(tc.s, tc.prec); got != tc.want {
			t.Errorf("fmtSummary(%+v, %d) = %q, want %q", tc.s, tc.prec, got, tc.want)
		}
	}
}
