package main

import (
	"context"
	"fmt"
	"strings"
)

// column is one metric shown in a result table.
type column struct {
	Key  string // metric name (m* constant)
	Head string // column header
	Prec int    // decimals
}

// runEnv is what a test's run function gets besides the participant.
type runEnv struct {
	Timing    timing
	IdleConns int
	Workers   int // connection-rate concurrency
	Storm     stormConfig
	// SyscallConns is how many connections the syscalls test traces.
	SyscallConns int
	Probe        probe
}

// testDef is one measurement: a table of the report.
type testDef struct {
	ID    string // for -only, e.g. "bulk-up"
	Title string
	What  string // how it is measured, one paragraph
	TLS   bool   // uses the TLS listeners
	Idle  bool   // idle memory: a fresh proxy per run, no direct run
	// NoDirect leaves the direct run out (the test measures the proxy process alone).
	NoDirect bool
	// Breakdown, when set, is a metric name prefix: the table is followed by each
	// participant's medians of the metrics that start with it (e.g. system calls by name).
	Breakdown string
	Spin      bool // run the busy spinner during these runs
	// Added shows each participant's p50 and p99 minus direct's: the latency a proxy adds to
	// one connection. (With many connections the queueing differs too much for a difference
	// to mean anything.)
	Added bool
	Cols  []column
	// Ratio is the metric the ratio columns compare; Higher says whether higher is better.
	Ratio  string
	Higher bool
	run    func(ctx context.Context, in *instance, e runEnv) (metrics, error)
}

var (
	colsBulk = []column{{mGbps, "Gbit/s", 2}, {mCPU, "proxy CPU (cores)", 2}, {mGbpsPerCore, "Gbit/s per proxy core", 1}}
	colsPing = []column{{mP50, "p50 µs", 0}, {mP99, "p99 µs", 0}, {mP999, "p99.9 µs", 0}, {mRTPS, "round trips/s", 0}, {mCPU, "proxy CPU (cores)", 2}}
	colsConn = []column{{mCPS, "conn/s", 0}, {mCPU, "proxy CPU (cores)", 2}, {mCPSPerCore, "conn/s per proxy core", 0}, {mClient, "client CPU (cores)", 2}}
	colsIdle = []column{{mKiB, "KiB/conn", 1}, {mFDs, "fds/conn", 2}, {mBaseMiB, "RSS before (MiB)", 1}}
)

func bulkTest(id, title string, useTLS bool, mode byte) *testDef {
	dir := "client → backend"
	if mode == modeSource {
		dir = "backend → client"
	}
	return &testDef{
		ID: id, Title: title, TLS: useTLS, Cols: colsBulk, Ratio: mGbps, Higher: true,
		What: "One connection, " + dir + ", 256 KiB writes as fast as possible. After a warm-up, " +
			"the bytes moved in the window give Gbit/s; the proxy's utime+stime over the same window " +
			"(/proc/PID/stat) gives its CPU in cores and Gbit/s per proxy core.",
		run: func(ctx context.Context, in *instance, e runEnv) (metrics, error) {
			return runBulk(ctx, in.target(useTLS), mode, e.Timing, e.Probe)
		},
	}
}

func pingTest(id, title string, size, conns int) *testDef {
	t := &testDef{
		ID: id, Title: title, Cols: colsPing, Ratio: mRTPS, Higher: true, Spin: conns == 1, Added: conns == 1,
		What: fmt.Sprintf("%d connection(s), each sending %d bytes and waiting for the echo, back to back. "+
			"Latency percentiles over every round trip started in the window; round trips/s summed over the connections.", conns, size),
		run: func(ctx context.Context, in *instance, e runEnv) (metrics, error) {
			return runPingPong(ctx, in.Plain, size, conns, e.Timing, e.Probe)
		},
	}
	if t.Spin {
		t.What += " A SCHED_IDLE busy spinner is pinned to the last CPU so that no vCPU halts between round trips (see README)."
	}
	return t
}

// handshakeTest is a connection-rate row over TLS, the client behaving as profile, against the
// ECDSA or (rsa) the RSA listener. what says what each connection does.
func handshakeTest(id, title string, profile *tlsProfile, rsa bool, what string) *testDef {
	cols := colsConn
	if profile == profileResume {
		cols = append(cols[:len(cols):len(cols)], column{mResumed, "resumed %", 0})
	}
	return &testDef{
		ID: id, Title: title, TLS: true, Cols: cols, Ratio: mCPS, Higher: true,
		What: "As the connection rate, over TLS: " + what + ". Client: " + profile.Name + " (" + profile.About + "). " +
			"The client's own handshake CPU shares the 2 cores: see its column. Direct = the Go TLS backend terminating itself.",
		run: func(ctx context.Context, in *instance, e runEnv) (metrics, error) {
			t := in.TLS
			if rsa {
				t = in.RSA
			}
			return runConnRate(ctx, t.with(profile), e.Workers, e.Timing, e.Probe)
		},
	}
}

// colsStorm are the columns of the reconnect-storm tables.
var colsStorm = []column{{mStormSecs, "s until all back", 2}, {mOutageP50, "client outage p50 s", 2}, {mOutageP99, "client outage p99 s", 2},
	{mStormP50, "reconnect p50 ms", 1}, {mStormP99, "reconnect p99 ms", 1},
	{mCPUPerReconnect, "proxy CPU ms per reconnect", 3}, {mCPU, "proxy CPU (cores)", 2}, {mClient, "client CPU (cores)", 2},
	{mResumed, "resumed %", 0}, {mRetries, "retried attempts", 0}}

// stormTest is a reconnect-storm row, with full handshakes or (resume) resumed sessions.
func stormTest(id, title string, resume bool) *testDef {
	how := "full TLS handshakes (browser-like client that never resumes)"
	if resume {
		how = "every client resuming the TLS session of its first tunnel (browser-like client with a session cache of its own)"
	}
	return &testDef{
		ID: id, Title: title, TLS: true, Cols: colsStorm, Ratio: mStormSecs, Higher: false,
		What: "N WSS tunnels (TLS to the proxy, then a WebSocket opening handshake through to a backend, its hello and one echo), " +
			"each client from its own address (127.2.x.y), are established; then all their TCP connections close at once and every client reconnects, " +
			"with a bounded number of attempts in flight, " + how + ". The window runs from the first close until the last tunnel is back and has echoed. " +
			"Client outage p50/p99: from the first close until that client's tunnel is back. Reconnect p50/p99: one client's successful attempt, from its start (a slot free) to its echo. Proxy CPU per reconnect: the proxy's CPU over the window ÷ N " +
			"(the teardown of the old tunnels included). Direct = no proxy: the clients reach the Go TLS backend themselves. On 2 shared cores the client's TLS work " +
			"is a large part of the machine, so CPU per reconnect is the firmer figure.",
		run: func(ctx context.Context, in *instance, e runEnv) (metrics, error) {
			sc := e.Storm
			sc.Resume = resume
			return runStorm(ctx, in.TLS, sc, e.Probe)
		},
	}
}

// tests is the full matrix, in report order.
var tests = []*testDef{
	bulkTest("bulk-up", "Plain bulk throughput, client → backend", false, modeSink),
	bulkTest("bulk-down", "Plain bulk throughput, backend → client", false, modeSource),
	bulkTest("tls-bulk-up", "TLS bulk throughput, client → backend", true, modeSink),
	bulkTest("tls-bulk-down", "TLS bulk throughput, backend → client", true, modeSource),
	pingTest("pingpong-64-c1", "Ping-pong 64 B, 1 connection", 64, 1),
	pingTest("pingpong-4k-c1", "Ping-pong 4 KiB, 1 connection", 4096, 1),
	pingTest("pingpong-64-c32", "Ping-pong 64 B, 32 connections", 64, 32),
	pingTest("pingpong-4k-c32", "Ping-pong 4 KiB, 32 connections", 4096, 32),
	{
		ID: "connrate", Title: "Plain connection rate", Cols: colsConn, Ratio: mCPS, Higher: true,
		What: "Workers open connections back to back: connect, echo 4 bytes, close (the client closes first). " +
			"Client addresses rotate over 127.1.0.1-127.1.3.232.",
		run: func(ctx context.Context, in *instance, e runEnv) (metrics, error) {
			return runConnRate(ctx, in.Plain, e.Workers, e.Timing, e.Probe)
		},
	},
	handshakeTest("tls-handshake", "TLS handshakes, ECDSA P-256, browser-like client", profileBrowser, false,
		"every connection is a full TLS 1.3 handshake with the ECDSA P-256 certificate"),
	handshakeTest("tls-handshake-p256", "TLS handshakes, ECDSA P-256, pinned P-256 client", profileP256, false,
		"every connection is a full TLS 1.3 handshake with the ECDSA P-256 certificate"),
	handshakeTest("tls-handshake-rsa", "TLS handshakes, RSA-2048, browser-like client", profileBrowser, true,
		"every connection is a full TLS 1.3 handshake with the RSA-2048 certificate (listener of its own)"),
	handshakeTest("tls-handshake-resumed", "TLS handshakes, resumed, browser-like client", profileResume, false,
		"connections resume the session of an earlier one (TLS 1.3 PSK with ECDHE; no certificate signature); the resumed column says how many did"),
	{
		ID: "syscalls", Title: "System calls per plain connection", NoDirect: true, Cols: []column{{mSyscalls, "system calls per connection", 1}},
		Ratio: mSyscalls, Higher: false, Breakdown: syscallPrefix,
		What: fmt.Sprintf("`strace -c -f -p PID` is attached to the proxy (every thread); %d connections (-quick: a third) as in the connection rate "+
			"(connect, echo 4 bytes, close; 8 at a time) go through it; strace is detached. Its total ÷ the connections; below the table, "+
			"each system call's count ÷ the connections. The proxy's idle wake-ups in those seconds count too. Needs strace (apt-get install strace).", syscallConns),
		run: func(ctx context.Context, in *instance, e runEnv) (metrics, error) {
			return runSyscalls(ctx, in.Plain, in.pid(), e.SyscallConns, 8)
		},
	},
	{
		ID: "tls-syscalls", Title: "System calls per TLS connection", TLS: true, NoDirect: true, Cols: []column{{mSyscalls, "system calls per connection", 1}},
		Ratio: mSyscalls, Higher: false, Breakdown: syscallPrefix,
		What: "As the plain row, over TLS: every connection is a full handshake of the browser-like client. Where a proxy's " +
			"system calls go beside its handshake CPU (see the TLS handshake rows).",
		run: func(ctx context.Context, in *instance, e runEnv) (metrics, error) {
			return runSyscalls(ctx, in.TLS.with(profileBrowser), in.pid(), e.SyscallConns/3, 8)
		},
	},
	stormTest("storm", "Reconnect storm, WSS, full handshakes", false),
	stormTest("storm-resumed", "Reconnect storm, WSS, resumed sessions", true),
	{
		ID: "idle", Title: "Idle memory, plain", Idle: true, Ratio: mKiB, Higher: false,
		Cols: append(colsIdle[:1:1], column{mKiB16K, "KiB/conn after 16 KiB echo", 1}, colsIdle[1], colsIdle[2]),
		What: "A freshly started proxy; N connections each echo 64 bytes and stay open. Proxy RSS (VmRSS) " +
			"after minus before, divided by N. Then every connection echoes 16 KiB and RSS is read again " +
			"(a proxy that keeps its buffers shows it). Kernel socket memory is not in RSS.",
		run: func(ctx context.Context, in *instance, e runEnv) (metrics, error) {
			return runIdle(ctx, in.Plain, in.pid(), e.IdleConns, true, e.Timing)
		},
	},
	{
		ID: "tls-idle", Title: "Idle memory, TLS", TLS: true, Idle: true, Ratio: mKiB, Higher: false,
		Cols: append(colsIdle[:1:1], column{mKiB16K, "KiB/conn after 16 KiB echo", 1}, colsIdle[1], colsIdle[2]),
		What: "As above over TLS (a full handshake per connection, browser-like client).",
		run: func(ctx context.Context, in *instance, e runEnv) (metrics, error) {
			return runIdle(ctx, in.TLS, in.pid(), e.IdleConns, true, e.Timing)
		},
	},
	{
		ID: "tls-idle-p256", Title: "Idle memory, TLS, pinned P-256 client", TLS: true, Idle: true, Ratio: mKiB, Higher: false,
		Cols: append(colsIdle[:1:1], column{mKiB16K, "KiB/conn after 16 KiB echo", 1}, colsIdle[1], colsIdle[2]),
		What: "As above with the pinned P-256 client of the reports before issue 11, for comparison with them: " +
			"a browser-like handshake (a bigger ClientHello and key exchange, a ticket issued) can leave a TLS stack holding more per connection.",
		run: func(ctx context.Context, in *instance, e runEnv) (metrics, error) {
			return runIdle(ctx, in.TLS.with(profileP256), in.pid(), e.IdleConns, true, e.Timing)
		},
	},
}

// selectTests returns the tests -only names, in matrix order: a name selects the test with
// that ID and every test whose ID starts with name + "-" ("bulk" is bulk-up and bulk-down,
// "tls" every TLS test). Empty only selects all. Unknown names are an error.
func selectTests(all []*testDef, only string) ([]*testDef, error) {
	if strings.TrimSpace(only) == "" {
		return all, nil
	}
	picked := make(map[*testDef]bool)
	for _, name := range strings.Split(only, ",") {
		name = strings.TrimSpace(name)
		found := false
		for _, t := range all {
			if t.ID == name || strings.HasPrefix(t.ID, name+"-") {
				picked[t], found = true, true
			}
		}
		if !found {
			var ids []string
			for _, t := range all {
				ids = append(ids, t.ID)
			}
			return nil, fmt.Errorf("-only %q: no such test; tests are %s", name, strings.Join(ids, ", "))
		}
	}
	var out []*testDef
	for _, t := range all {
		if picked[t] {
			out = append(out, t)
		}
	}
	return out, nil
}
