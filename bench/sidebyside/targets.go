package main

import (
	"fmt"
	"math"
	"strings"
)

// goal is one target row of an issue (section 2 of issue 3, the Targets of issue 11): a ratio
// from one run of the harness and the bound it must meet.
type goal struct {
	Issue  string // the issue(s) that set it, e.g. "3, 11"
	Name   string
	Bound  float64
	AtMost bool // the ratio must be <= Bound (else >= Bound)
	// ratio computes the ratio and describes the medians it came from; ok is false when the
	// run did not measure them. A NaN ratio means the medians give no verdict.
	ratio func(by map[string]*outcome) (r float64, measured string, ok bool)
}

// medians returns the medians of key for names in test id, and whether all exist.
func medians(by map[string]*outcome, id, key string, names ...string) ([]float64, bool) {
	o := by[id]
	if o == nil {
		return nil, false
	}
	var vs []float64
	for _, n := range names {
		v, ok := o.median(n, key)
		if !ok {
			return nil, false
		}
		vs = append(vs, v)
	}
	return vs, true
}

// versus is "tether's median of key in test id ÷ peer's".
func versus(id, key, peer, unit string, prec int) func(map[string]*outcome) (float64, string, bool) {
	return func(by map[string]*outcome) (float64, string, bool) {
		v, ok := medians(by, id, key, nameTether, peer)
		if !ok {
			return 0, "", false
		}
		return v[0] / v[1], fmt.Sprintf("tether %.*f %s, %s %.*f", prec, v[0], unit, peer, prec, v[1]), true
	}
}

// absolute is "tether's median of key in test id ÷ limit".
func absolute(id, key string, limit float64, unit string) func(map[string]*outcome) (float64, string, bool) {
	return func(by map[string]*outcome) (float64, string, bool) {
		v, ok := medians(by, id, key, nameTether)
		if !ok {
			return 0, "", false
		}
		return v[0] / limit, fmt.Sprintf("tether %.1f %s (target %g)", v[0], unit, limit), true
	}
}

// addedLatency is tether's added latency over direct ÷ nginx's. When nginx's median is not above
// direct's (noise: a p99 of a few hundred samples moves more than nginx adds) there is nothing to
// divide by, and the ratio is NaN: no verdict rather than a negative ratio that "passes".
func addedLatency(key string) func(map[string]*outcome) (float64, string, bool) {
	return func(by map[string]*outcome) (float64, string, bool) {
		v, ok := medians(by, "pingpong-64-c1", key, nameTether, nameNginx, nameDirect)
		if !ok {
			return 0, "", false
		}
		t, n := v[0]-v[2], v[1]-v[2]
		measured := fmt.Sprintf("tether %+.0f µs, nginx %+.0f µs over direct %.0f µs", t, n, v[2])
		if n <= 0 {
			return math.NaN(), measured, true
		}
		return t / n, measured, true
	}
}

// goals are the targets of issue 3, section 2, and of issue 11 (those the harness can judge;
// issue 11's "no regression" rows restate issue 3's or tighten them).
var goals = []goal{
	{Issue: "3", Name: "plain bulk up ≥ 1.2× HAProxy forced splice", Bound: 1.2, ratio: versus("bulk-up", mGbps, nameHAProxyOn, "Gbit/s", 1)},
	{Issue: "3", Name: "plain bulk down ≥ 1.2× HAProxy forced splice", Bound: 1.2, ratio: versus("bulk-down", mGbps, nameHAProxyOn, "Gbit/s", 1)},
	{Issue: "11", Name: "plain bulk up ≥ 1.0× HAProxy forced splice", Bound: 1.0, ratio: versus("bulk-up", mGbps, nameHAProxyOn, "Gbit/s", 1)},
	{Issue: "11", Name: "plain bulk down ≥ 1.0× HAProxy forced splice", Bound: 1.0, ratio: versus("bulk-down", mGbps, nameHAProxyOn, "Gbit/s", 1)},
	{Issue: "3", Name: "plain bulk up ≥ 30 Gbit/s per proxy core", Bound: 1, ratio: absolute("bulk-up", mGbpsPerCore, 30, "Gbit/s/core")},
	{Issue: "3", Name: "plain bulk down ≥ 30 Gbit/s per proxy core", Bound: 1, ratio: absolute("bulk-down", mGbpsPerCore, 30, "Gbit/s/core")},
	{Issue: "11", Name: "plain bulk up per proxy core ≥ 1.3× HAProxy forced splice", Bound: 1.3, ratio: versus("bulk-up", mGbpsPerCore, nameHAProxyOn, "Gbit/s/core", 1)},
	{Issue: "11", Name: "plain bulk down per proxy core ≥ 1.3× HAProxy forced splice", Bound: 1.3, ratio: versus("bulk-down", mGbpsPerCore, nameHAProxyOn, "Gbit/s/core", 1)},
	{Issue: "3, 11", Name: "TLS bulk up ≥ 1.1× nginx", Bound: 1.1, ratio: versus("tls-bulk-up", mGbps, nameNginx, "Gbit/s", 1)},
	{Issue: "3, 11", Name: "TLS bulk down ≥ 1.1× nginx", Bound: 1.1, ratio: versus("tls-bulk-down", mGbps, nameNginx, "Gbit/s", 1)},
	{Issue: "3, 11", Name: "added p50 latency (64 B, 1 conn) ≤ 0.75× nginx's", Bound: 0.75, AtMost: true, ratio: addedLatency(mP50)},
	{Issue: "3", Name: "added p99 latency (64 B, 1 conn) ≤ 0.75× nginx's", Bound: 0.75, AtMost: true, ratio: addedLatency(mP99)},
	{Issue: "3", Name: "round trips/s (64 B, 32 conns) ≥ 1.2× nginx", Bound: 1.2, ratio: versus("pingpong-64-c32", mRTPS, nameNginx, "rt/s", 0)},
	{Issue: "11", Name: "round trips/s (64 B, 32 conns) ≥ 1.1× nginx", Bound: 1.1, ratio: versus("pingpong-64-c32", mRTPS, nameNginx, "rt/s", 0)},
	{Issue: "3, 11", Name: "plain conn/s ≥ 1.2× nginx", Bound: 1.2, ratio: versus("connrate", mCPS, nameNginx, "conn/s", 0)},
	{Issue: "11", Name: "plain conn/s per proxy core ≥ 1.2× nginx", Bound: 1.2, ratio: versus("connrate", mCPSPerCore, nameNginx, "conn/s/core", 0)},
	{Issue: "11", Name: "system calls per plain connection ≤ nginx's", Bound: 1, AtMost: true, ratio: versus("syscalls", mSyscalls, nameNginx, "calls/conn", 1)},
	{Issue: "11", Name: "TLS ECDSA handshakes/s, browser-like client ≥ 1.1× nginx", Bound: 1.1, ratio: versus("tls-handshake", mCPS, nameNginx, "handshakes/s", 0)},
	{Issue: "11", Name: "TLS ECDSA handshakes/s per proxy core, browser-like client ≥ 1.3× nginx", Bound: 1.3, ratio: versus("tls-handshake", mCPSPerCore, nameNginx, "handshakes/s/core", 0)},
	{Issue: "3", Name: "TLS ECDSA handshakes/s, pinned P-256 client ≥ 1.3× nginx", Bound: 1.3, ratio: versus("tls-handshake-p256", mCPS, nameNginx, "handshakes/s", 0)},
	{Issue: "11", Name: "reconnect storm (full handshakes): all back ≤ 0.9× nginx's time", Bound: 0.9, AtMost: true, ratio: versus("storm", mStormSecs, nameNginx, "s", 2)},
	{Issue: "11", Name: "reconnect storm (full handshakes): proxy CPU per reconnect ≤ 0.7× nginx's", Bound: 0.7, AtMost: true, ratio: versus("storm", mCPUPerReconnect, nameNginx, "ms", 3)},
	{Issue: "3, 11", Name: "idle RSS/conn plain ≤ 2.5 KiB", Bound: 1, AtMost: true, ratio: absolute("idle", mKiB, 2.5, "KiB")},
	{Issue: "3", Name: "idle RSS/conn plain after 16 KiB echo ≤ 2.5 KiB", Bound: 1, AtMost: true, ratio: absolute("idle", mKiB16K, 2.5, "KiB")},
	{Issue: "3", Name: "idle RSS/conn TLS ≤ 12 KiB", Bound: 1, AtMost: true, ratio: absolute("tls-idle", mKiB, 12, "KiB")},
	{Issue: "11", Name: "idle RSS/conn TLS ≤ 10.1 KiB (no regression)", Bound: 1, AtMost: true, ratio: absolute("tls-idle", mKiB, 10.1, "KiB")},
}

// pass reports whether ratio r meets g.
func (g goal) pass(r float64) bool {
	if g.AtMost {
		return r <= g.Bound
	}
	return r >= g.Bound
}

// renderTargets writes the targets table: every goal, its measured ratio and PASS or MISS
// ("not measured" when the run left it out, "no verdict" when its medians give none).
func renderTargets(b *strings.Builder, outs []*outcome) {
	by := make(map[string]*outcome)
	for _, o := range outs {
		by[o.Test.ID] = o
	}
	b.WriteString("| issue | target | measured (medians) | ratio | bound | result |\n|---|---|---|---|---|---|\n")
	for _, g := range goals {
		op := "≥"
		if g.AtMost {
			op = "≤"
		}
		r, measured, ok := g.ratio(by)
		if !ok {
			fmt.Fprintf(b, "| %s | %s | not measured | – | %s %.2f | – |\n", g.Issue, g.Name, op, g.Bound)
			continue
		}
		if math.IsNaN(r) {
			fmt.Fprintf(b, "| %s | %s | %s | – | %s %.2f | no verdict |\n", g.Issue, g.Name, measured, op, g.Bound)
			continue
		}
		result := "MISS"
		if g.pass(r) {
			result = "PASS"
		}
		fmt.Fprintf(b, "| %s | %s | %s | %.2f | %s %.2f | %s |\n", g.Issue, g.Name, measured, r, op, g.Bound, result)
	}
}
