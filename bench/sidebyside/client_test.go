package main

import (
	"context"
	"crypto/tls"
	"math"
	"net"
	"os"
	"strconv"
	"testing"
	"time"
)

func TestSourceIP(t *testing.T) {
	for _, tc := range []struct {
		i    uint32
		want string
	}{
		{0, "127.1.0.1"}, {249, "127.1.0.250"}, {250, "127.1.1.1"}, {999, "127.1.3.250"}, {1000, "127.1.0.1"},
	} {
		if got := sourceIP(tc.i).String(); got != tc.want {
			t.Errorf("sourceIP(%d) = %s, want %s", tc.i, got, tc.want)
		}
	}
}

func TestParseBackendReady(t *testing.T) {
	got, err := parseBackendReady("ready 127.0.0.1:1 127.0.0.1:2 127.0.0.1:3 127.0.0.1:4 127.0.0.1:5\n")
	if err != nil || len(got.Plain) != 3 || got.Plain[2] != "127.0.0.1:3" || got.TLS != "127.0.0.1:4" || got.RSA != "127.0.0.1:5" {
		t.Errorf("parseBackendReady = %+v, %v", got, err)
	}
	for _, bad := range []string{"", "ready 127.0.0.1:1", "ready a b c d", "hello a b c d e", "backend accept: too many open files"} {
		if _, err := parseBackendReady(bad); err == nil {
			t.Errorf("parseBackendReady(%q): no error", bad)
		}
	}
}

// startTestBackends runs the backends in the test process: one plain and one TLS listener.
func startTestBackends(t *testing.T) (plain, tlsAddr target) {
	t.Helper()
	cert, err := writeCert(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	kp, err := tls.LoadX509KeyPair(cert.ECDSA.Cert, cert.ECDSA.Key)
	if err != nil {
		t.Fatal(err)
	}
	var addrs []string
	for i := range 2 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ln.Close() })
		addrs = append(addrs, ln.Addr().String())
		if i == 1 {
			ln = tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{kp}})
		}
		go acceptBackend(ln)
	}
	return target{Addr: addrs[0]}, target{Addr: addrs[1], TLS: profileBrowser}
}

// TestMeasurements runs every kind of run briefly against in-process backends (the direct
// case): the load generators work and report plausible numbers. Timing decides nothing.
func TestMeasurements(t *testing.T) {
	plain, secure := startTestBackends(t)
	// Windows long enough that a connection (a TLS handshake under -race, on a busy machine)
	// started in one completes; timing decides nothing.
	tm := timing{Warm: 20 * time.Millisecond, Window: 500 * time.Millisecond, Settle: 10 * time.Millisecond}
	ctx := context.Background()
	positive := func(name string, m metrics, keys ...string) {
		t.Helper()
		for _, k := range keys {
			if v, ok := m[k]; !ok || math.IsNaN(v) || v <= 0 {
				t.Errorf("%s: %s = %v, want > 0 (%v)", name, k, v, m)
			}
		}
	}
	for _, tg := range []target{plain, secure} {
		for _, mode := range []byte{modeSink, modeSource} {
			m, err := runBulk(ctx, tg, mode, tm, probe{})
			if err != nil {
				t.Fatalf("runBulk(tls=%t, %c): %v", tg.TLS != nil, mode, err)
			}
			positive("bulk", m, mGbps)
			if !math.IsNaN(m[mCPU]) || !math.IsNaN(m[mGbpsPerCore]) {
				t.Errorf("bulk without a proxy: cpu %v, per core %v; want NaN", m[mCPU], m[mGbpsPerCore])
			}
		}
		m, err := runConnRate(ctx, tg, 4, tm, probe{})
		if err != nil {
			t.Fatalf("runConnRate(tls=%t): %v", tg.TLS != nil, err)
		}
		positive("connrate", m, mCPS)
	}
	for _, conns := range []int{1, 4} {
		m, err := runPingPong(ctx, plain, 64, conns, tm, probe{})
		if err != nil {
			t.Fatalf("runPingPong(%d conns): %v", conns, err)
		}
		positive("pingpong", m, mP50, mP99, mP999, mRTPS)
		if !(m[mP50] <= m[mP99] && m[mP99] <= m[mP999]) {
			t.Errorf("percentiles not ordered: %v", m)
		}
	}
	// The test process itself stands in for the proxy: it holds both ends of every connection.
	m, err := runIdle(ctx, plain, os.Getpid(), 50, true, tm)
	if err != nil {
		t.Fatalf("runIdle: %v", err)
	}
	if m[mFDs] < 1.9 || m[mBaseMiB] <= 0 || math.IsNaN(m[mKiB16K]) {
		t.Errorf("runIdle = %v, want >= 2 fds per connection (client and backend side), a base RSS and a 16K figure", m)
	}
}

// TestTLSProfiles: every TLS client profile completes handshakes with a Go TLS server; only
// the resuming one resumes, and the others offer resumption as a browser does (browser-like)
// or not at all (pinned P-256) as their configurations say. Timing decides nothing.
func TestTLSProfiles(t *testing.T) {
	_, secure := startTestBackends(t)
	tm := timing{Warm: 20 * time.Millisecond, Window: 500 * time.Millisecond} // see TestMeasurements
	for _, p := range []*tlsProfile{profileBrowser, profileP256, profileResume} {
		m, err := runConnRate(context.Background(), secure.with(p), 4, tm, probe{})
		if err != nil {
			t.Fatalf("runConnRate(%s): %v", p.Name, err)
		}
		if m[mCPS] <= 0 {
			t.Errorf("%s: %v conn/s", p.Name, m[mCPS])
		}
		if r := m[mResumed]; (p == profileResume) != (r > 50) || (p != profileResume && r != 0) {
			t.Errorf("%s: %.0f%% resumed", p.Name, r)
		}
	}
	if profileBrowser.cfg.ClientSessionCache == nil || profileBrowser.cfg.CurvePreferences != nil || profileP256.cfg.ClientSessionCache != nil {
		t.Error("browser-like must keep Go's curve defaults and offer resumption; pinned P-256 must not")
	}
}

// TestBulkFailsWithoutBackend: a run that cannot connect is an error, not a zero.
func TestBulkFailsWithoutBackend(t *testing.T) {
	ports, err := freePorts(1)
	if err != nil {
		t.Fatal(err)
	}
	tg := target{Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[0]))}
	tm := timing{Warm: 10 * time.Millisecond, Window: 10 * time.Millisecond}
	if m, err := runBulk(context.Background(), tg, modeSink, tm, probe{}); err == nil {
		t.Errorf("runBulk to a closed port = %v, want an error", m)
	}
	if m, err := runConnRate(context.Background(), tg, 2, tm, probe{}); err == nil {
		t.Errorf("runConnRate to a closed port = %v, want an error", m)
	}
}

// TestStorm runs small reconnect storms against the in-process TLS backend (the direct case):
// every tunnel comes back and echoes, each client from its own address; with resume every
// client resumes its session, without it none does. Timing decides nothing.
func TestStorm(t *testing.T) {
	_, secure := startTestBackends(t)
	for _, resume := range []bool{false, true} {
		m, err := runStorm(context.Background(), secure, stormConfig{Tunnels: 20, InFlight: 6, Resume: resume}, probe{})
		if err != nil {
			t.Fatalf("runStorm(resume=%t): %v", resume, err)
		}
		want := 0.0
		if resume {
			want = 100
		}
		if m[mResumed] != want || m[mStormSecs] <= 0 || m[mStormP50] <= 0 || m[mStormP50] > m[mStormP99] || !math.IsNaN(m[mCPUPerReconnect]) ||
			m[mOutageP50] <= 0 || m[mOutageP50] > m[mOutageP99] || m[mOutageP99] > m[mStormSecs] {
			t.Errorf("runStorm(resume=%t) = %v; want %.0f%% resumed, positive ordered times, no proxy CPU", resume, m, want)
		}
	}
}

// TestStormSources: storm clients have distinct addresses, apart from the connection-rate ones.
func TestStormSources(t *testing.T) {
	seen := make(map[string]bool)
	for i := range 9000 {
		ip := stormSource(i)
		if seen[ip.String()] || ip[len(ip)-3] != 2 {
			t.Fatalf("stormSource(%d) = %s: repeated or outside 127.2/16", i, ip)
		}
		seen[ip.String()] = true
	}
}
