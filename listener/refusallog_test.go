package listener

import (
	"encoding/json"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"
)

// TestRefusalLogAllow pins the rate limit of refusal lines: refusalLinesPerWindow lines per
// window and key, the rest counted and reported by the first line of a later window.
func TestRefusalLogAllow(t *testing.T) {
	var r refusalLog
	t0 := time.Unix(1000, 0)
	a, b := refusalKey{"wss", "max_conns"}, refusalKey{"wss", "tls handshake"}
	steps := []struct {
		key            refusalKey
		at             time.Duration
		ok             bool
		wantSuppressed int
	}{
		{a, 0, true, 0}, {a, 1, true, 0}, {a, 2, true, 0}, {a, 3, true, 0}, {a, 4, true, 0},
		{a, 5, false, 0}, {a, 6, false, 0}, // over the limit: left out, counted
		{b, 7, true, 0},                    // another reason has its own budget
		{a, refusalWindow + 10, true, 2},   // the next window reports the two left out
		{a, refusalWindow + 11, true, 0},   // and starts counting afresh
		{b, 3*refusalWindow + 12, true, 0}, // nothing was left out of b
	}
	for i, s := range steps {
		ok, suppressed := r.allow(s.key, t0.Add(s.at))
		if ok != s.ok || suppressed != s.wantSuppressed {
			t.Errorf("step %d (%v at %v): allow = %v, %d; want %v, %d", i, s.key, s.at, ok, suppressed, s.ok, s.wantSuppressed)
		}
	}
}

// TestMaxConnsRefusalsLogged pins two of issue 10's smaller defects: refusals over max_conns
// were counted but never logged, and nothing bounded the refusal lines of a flood. 40 refused
// connections now write a handful of lines, and every refusal is either logged or counted in
// the "suppressed" of a later line.
func TestMaxConnsRefusalsLogged(t *testing.T) {
	t.Parallel()
	const flood = 40
	b := startBackend(t, "echo", "127.0.0.1:0", echo)
	p := startProxy(t, fmt.Sprintf(`
[[listeners]]
name = "capped"
listen = "127.0.0.1:0"
upstream = "app"
preamble = "none"
max_conns = 1
[upstreams.app]
servers = ["%s"]
`, b.addr()))
	held := dialFrom(t, "127.0.0.1", p.addr("capped"))
	defer held.Close()
	for wait := time.Now().Add(5 * time.Second); p.srv.Active() != 1; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(wait) {
			t.Fatal("the first connection was never served")
		}
	}
	refuseOne := func() {
		d := net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.2")}}
		c, err := d.Dial("tcp", p.addr("capped"))
		if err != nil { // a refusal can reset the connection before Dial returns
			return
		}
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		c.Read(make([]byte, 1)) // returns once tether has closed it
		c.Close()
	}
	for range flood {
		refuseOne()
	}
	time.Sleep(refusalWindow + 100*time.Millisecond) // a new window: the next line reports the rest
	refuseOne()
	want := fmt.Sprintf(`tether_connections_refused_total{listener="capped",reason="listener max_conns"} %d`, flood+1)
	if m := metricsText(p); !strings.Contains(m, want) {
		t.Fatalf("metrics lack %q:\n%s", want, grepLines(m, "refused"))
	}
	lines, accounted := 0, 0
	for _, l := range strings.Split(p.log.String(), "\n") {
		var rec struct {
			Msg        string
			Reason     string
			Suppressed int
		}
		if json.Unmarshal([]byte(l), &rec) != nil || rec.Msg != "connection rejected" || rec.Reason != "listener max_conns" {
			continue
		}
		lines++
		accounted += 1 + rec.Suppressed
	}
	if lines == 0 || lines > 3*refusalLinesPerWindow {
		t.Errorf("%d refusal lines for %d refusals, want 1..%d", lines, flood+1, 3*refusalLinesPerWindow)
	}
	if accounted != flood+1 {
		t.Errorf("lines plus suppressed counts account for %d refusals, want %d", accounted, flood+1)
	}
}
