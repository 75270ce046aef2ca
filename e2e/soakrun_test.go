//go:build linux

package e2e

import (
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// soakSetup is what every soak run shares: the binaries, the certificate and the backends.
type soakSetup struct {
	cert     string // the certificate, which the clients trust
	certDir  string // holds cert.pem and key.pem
	binary   string // tether without the race detector
	clients  string // wspeer
	backends []string
	runs     int // runs started: each uses source addresses of its own
}

// clientReport is one progress line of `wspeer clients` (e2e/wspeer/clients.go).
type clientReport struct {
	Event        string   `json:"event"`
	Open         int      `json:"open"`
	Failed       int      `json:"failed"`
	Lost         int      `json:"lost"`
	Round        int      `json:"round"`
	Echoes       int64    `json:"echoes"`
	BytesChecked int64    `json:"bytes_checked"`
	Seconds      float64  `json:"seconds"`
	Errors       []string `json:"errors"`
}

// lastEvent returns the last progress line of kind event the clients process printed.
func lastEvent(c *child, event string) (clientReport, bool) {
	var last clientReport
	found := false
	for line := range strings.Lines(c.output()) {
		var r clientReport
		if strings.HasPrefix(line, "{") && json.Unmarshal([]byte(line), &r) == nil && r.Event == event {
			last, found = r, true
		}
	}
	return last, found
}

// waitEvent waits (up to limit) for the clients' progress line event.
func waitEvent(t testing.TB, c *child, event string, limit time.Duration) clientReport {
	t.Helper()
	var r clientReport
	err := c.waitUntil(fmt.Sprintf("%q", event), func(string) bool {
		var ok bool
		r, ok = lastEvent(c, event)
		return ok
	}, limit)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// soakConfig is a soak tether's configuration: one TLS listener in front of the backends.
func soakConfig(port, admin int, reusePort bool, certDir string, backends []string) string {
	servers := make([]string, len(backends))
	for i, b := range backends {
		servers[i] = strconv.Quote(b)
	}
	return fmt.Sprintf(`[admin]
listen = "127.0.0.1:%d"

[[listeners]]
name = "soak"
listen = "127.0.0.1:%d"
upstream = "echo"
preamble = "websocket"
reuseport = %t
  [listeners.tls]
  cert = %q
  key = %q

[upstreams.echo]
servers = [%s]
`, admin, port, reusePort, filepath.Join(certDir, "cert.pem"), filepath.Join(certDir, "key.pem"), strings.Join(servers, ", "))
}

// Flatness allowed while holding (see soakResult.problems).
const (
	goroutineDrift = 20       // goroutines: tether runs 2 per tunnel, so this is under 10 tunnels' worth
	rssDrift       = 0.10     // RSS: 10% of the first sample ...
	rssSlack       = 16 << 20 // ... plus 16 MiB
)

// run holds shards*perShard tunnels through shards tether processes on one port for hold.
func (s *soakSetup) run(t *testing.T, shards, perShard int, hold time.Duration) soakResult {
	res := soakResult{shards: shards, perShard: perShard, hold: hold}
	var port int
	tethers := make([]*adminTether, shards)
	for k := range tethers {
		tethers[k] = startAdminTether(t, s.binary, t.TempDir(), 1, func(ports []int, admin int) string {
			if k == 0 {
				port = ports[0] // the other shards listen on the first one's port
			}
			return soakConfig(port, admin, shards > 1, s.certDir, s.backends)
		})
		res.tethers = append(res.tethers, tetherFigures{before: tethers[k].sample(t)})
	}

	src := 20 + 8*s.runs
	s.runs++
	clients := make([]*child, shards)
	start := time.Now()
	for k := range clients {
		clients[k] = startChild(t, fmt.Sprintf("clients-%d", k+1), exec.Command(s.clients, "clients",
			"-target", fmt.Sprintf("127.0.0.1:%d", port), "-ca", s.cert, "-n", strconv.Itoa(perShard),
			"-src", fmt.Sprintf("127.%d", src+k), "-concurrency", strconv.Itoa(max(1, 200/shards)),
			"-hold", hold.String(), "-every", "5s", "-sample", "0.05"))
	}
	for _, c := range clients {
		r := waitEvent(t, c, "ramped", 5*time.Minute)
		if r.Failed > 0 {
			t.Fatalf("%s: %d of %d tunnels failed to open: %v", c.name, r.Failed, perShard, r.Errors)
		}
	}
	res.ramp = time.Since(start)
	total := shards * perShard

	// Hold: sample every tether every 5s until the clients have swept. A sample is kept only
	// when no client had swept when it ended: the clients close their tunnels after sweeping.
	deadline := time.Now().Add(hold + 3*time.Minute)
	for {
		samples := make([]processSample, shards)
		for k, p := range tethers {
			samples[k] = p.sample(t)
		}
		swept := 0
		for _, c := range clients {
			if _, ok := lastEvent(c, "swept"); ok {
				swept++
			}
			select {
			case <-c.exited:
				if _, ok := lastEvent(c, "swept"); !ok {
					t.Fatalf("%s exited (%v) while holding:\n%s", c.name, c.err, tail(c.output(), 4000))
				}
			default:
			}
		}
		if swept == 0 {
			active := 0
			for k := range tethers {
				res.tethers[k].during = append(res.tethers[k].during, samples[k])
				active += samples[k].Active
			}
			if active != total {
				t.Errorf("while holding, tether serves %d connections, want %d", active, total)
			}
		}
		if swept == len(clients) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the clients did not finish holding within %v", hold+3*time.Minute)
		}
		time.Sleep(5 * time.Second)
	}

	for _, c := range clients {
		r := waitEvent(t, c, "swept", time.Second)
		res.held += r.Open
		res.lost += r.Lost
		res.echoes += r.Echoes
		res.bytes += r.BytesChecked
		if r.Lost > 0 || r.Open != perShard {
			t.Errorf("%s: %d of %d tunnels held, %d lost: %v", c.name, r.Open, perShard, r.Lost, r.Errors)
		}
		done := waitEvent(t, c, "done", 3*time.Minute)
		if len(done.Errors) > len(r.Errors) {
			t.Errorf("%s while closing: %v", c.name, done.Errors[len(r.Errors):])
		}
		select {
		case <-c.exited:
			if c.err != nil {
				t.Errorf("%s: %v", c.name, c.err)
			}
		case <-time.After(time.Minute):
			t.Errorf("%s did not exit after closing its tunnels", c.name)
		}
	}

	for k, p := range tethers {
		f := &res.tethers[k]
		var ok bool
		if f.after, ok = p.settle(t, f.before, time.Minute); !ok {
			t.Errorf("tether %d did not return to its state before the soak within a minute:\nbefore: %v\nafter:  %v", k+1, f.before, f.after)
		}
		f.checkLog(t, p)
	}
	for _, problem := range res.problems() {
		t.Error(problem)
	}
	return res
}

// checkLog checks that every tunnel of the tether ended cleanly, when the clients closed it,
// and that tether refused nothing.
func (f *tetherFigures) checkLog(t *testing.T, p *adminTether) {
	t.Helper()
	reasons := map[string]int{}
	for _, e := range logSince(p.child, 0) {
		switch e.Msg {
		case "tunnel closed":
			reasons[e.Reason]++
			f.closed++
		case "connection rejected":
			t.Errorf("tether refused a connection: %v", e)
		}
	}
	for reason, n := range reasons {
		if reason != "client closed" && reason != "backend closed" {
			t.Errorf("%d tunnels ended with reason %q", n, reason)
		}
	}
	f.reasons = reasons
}
