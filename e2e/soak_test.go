//go:build linux

package e2e

import (
	"fmt"
	"math"
	"os"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// soakSettings are the soak's knobs, from the environment:
//
//	TETHER_SOAK          how long the tunnels are held: "2m" in CI (the default when
//	                     TETHER_REQUIRE_PEERS=1, as scripts/test sets), "10m" by hand; unset
//	                     otherwise (or "0"): the soak is skipped, so `go test ./...` stays quick
//	TETHER_SOAK_CONNS    tunnels per tether process (default 9000)
//	TETHER_SOAK_SHARDS   tether processes sharing one port with reuseport (default 2)
//	TETHER_SOAK_SHARDED  how long the sharded variant holds (default 30s; 0 skips it)
type soakSettings struct {
	hold, shardedHold time.Duration
	conns, shards     int
}

func soakSettingsFromEnv(t *testing.T) soakSettings {
	t.Helper()
	s := soakSettings{hold: 2 * time.Minute, shardedHold: 30 * time.Second, conns: 9000, shards: 2}
	v, set := os.LookupEnv("TETHER_SOAK")
	if v == "0" || (!set && os.Getenv("TETHER_REQUIRE_PEERS") != "1") {
		t.Skip("the soak holds 9,000 TLS tunnels for minutes: set TETHER_SOAK=2m (10m by hand, with go test -timeout 30m) to run it; scripts/test does")
	}
	durations := map[string]*time.Duration{"TETHER_SOAK": &s.hold, "TETHER_SOAK_SHARDED": &s.shardedHold}
	for name, d := range durations {
		v := os.Getenv(name)
		if v == "" {
			continue
		}
		parsed, err := time.ParseDuration(v)
		if err != nil || parsed < 0 || (name == "TETHER_SOAK" && parsed < 10*time.Second) {
			t.Fatalf("%s=%q: want a duration such as 2m (at least 10s for TETHER_SOAK)", name, v)
		}
		*d = parsed
	}
	counts := map[string]*int{"TETHER_SOAK_CONNS": &s.conns, "TETHER_SOAK_SHARDS": &s.shards}
	for name, n := range counts {
		v := os.Getenv(name)
		if v == "" {
			continue
		}
		parsed, err := strconv.Atoi(v)
		if err != nil || parsed < 1 || parsed > 64000 {
			t.Fatalf("%s=%q: want a count from 1 to 64000", name, v)
		}
		*n = parsed
	}
	// The runs take their holds plus a few minutes (ramp-up, sweep, closing, the builds).
	if dl, ok := t.Deadline(); ok && time.Until(dl) < s.hold+s.shardedHold+4*time.Minute {
		t.Fatalf("the soak needs about %v, the test binary times out in %v: raise go test -timeout",
			s.hold+s.shardedHold+4*time.Minute, time.Until(dl).Round(time.Second))
	}
	return s
}

// soakFDs is how many open files a tether process with conns tunnels needs: 2 per tunnel
// (TLS client leg, plain backend leg), with room for reuseport's uneven split (the kernel
// hashes each connection to a socket: a few standard deviations of a binomial split) and
// for listeners, admin, epoll and the like.
func soakFDs(conns, shards int) int {
	spread := 0
	if shards > 1 {
		n := float64(conns * shards)
		spread = int(4 * math.Sqrt(n/float64(shards)*(1-1/float64(shards)))) // 4 sigma of Binomial(n, 1/shards)
	}
	return 2*(conns+spread) + 64
}

// requireFDs fails the test when the process's hard open-file limit (which the children
// inherit; Go raises the soft limit to it) is below need.
func requireFDs(t *testing.T, need int, what string) {
	t.Helper()
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	if lim.Max < uint64(need) {
		t.Fatalf("%s needs %d open files per process, the hard limit is %d (ulimit -Hn): raise it or lower TETHER_SOAK_CONNS",
			what, need, lim.Max)
	}
}

// TestSoak holds TLS WebSocket tunnels through one tether process (9,000 by default) for
// TETHER_SOAK with verified echoes on a rotating 5% of them every 5s, then the same through
// several tether processes sharing one port with reuseport (issue 5, item 5). Clients and
// backends are wspeer processes; tether is built without the race detector, which caps a
// process at 8128 goroutines (tether runs two per tunnel). Must hold: every tunnel opens and
// stays open, every echoed byte is right, tether's goroutines and RSS stay flat while
// holding, and afterwards tether is back to its goroutines and fds from before.
func TestSoak(t *testing.T) {
	cfg := soakSettingsFromEnv(t)
	requireFDs(t, soakFDs(cfg.conns, 1), "the soak")
	if cfg.shardedHold > 0 && cfg.shards > 1 {
		requireFDs(t, soakFDs(cfg.conns, cfg.shards), "the sharded soak")
	}
	dir := t.TempDir()
	s := &soakSetup{cert: testCert(t, dir), certDir: dir, binary: tetherBinaryNoRace(t), clients: wspeerBinary(t)}
	for i := range 3 {
		s.backends = append(s.backends, backendAddr(startWSPeerEcho(t, fmt.Sprintf("backend-%d", i+1))))
	}
	var results []soakResult
	t.Run("one_process", func(t *testing.T) {
		results = append(results, s.run(t, 1, cfg.conns, cfg.hold))
	})
	if cfg.shardedHold > 0 && cfg.shards > 1 && !t.Failed() {
		t.Run("reuseport_shards", func(t *testing.T) {
			results = append(results, s.run(t, cfg.shards, cfg.conns, cfg.shardedHold))
		})
	}
	for _, r := range results {
		t.Log(r)
	}
}
