package listener

import (
	"encoding/json"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"
)

// TestRefusalLogAllow pins the rate limit of refusal lines: a burst of refusalBurst lines per
// key, then refusalRate a second; the refusals left out are reported by the next line written.
func TestRefusalLogAllow(t *testing.T) {
	var r refusalLog
	t0 := time.Unix(1000, 0)
	a, b := refusalKey{"wss", "max_conns"}, refusalKey{"wss", "tls handshake"}
	for i := range refusalBurst {
		if ok, n := r.allow(a, t0); !ok || n != 0 {
			t.Fatalf("line %d of the burst: allow = %v, %d; want true, 0", i, ok, n)
		}
	}
	steps := []struct {
		key            refusalKey
		at             time.Duration
		ok             bool
		wantSuppressed int
	}{
		{a, 0, false, 0}, {a, 0, false, 0}, // the burst is spent: left out, counted
		{b, 0, true, 0},                         // another reason has its own bucket
		{a, time.Second / refusalRate, true, 2}, // one token later: the line reports the two left out
		{a, time.Second / refusalRate, false, 0},
		{a, 2 * time.Second / refusalRate, true, 1},
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
	const flood = 3 * refusalBurst
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
	start := time.Now()
	for range flood {
		refuseOne()
	}
	time.Sleep(2 * time.Second / refusalRate) // a token comes back: the next line reports the rest
	refuseOne()
	// At most the burst, the tokens that came back meanwhile, and the line after the pause.
	most := refusalBurst + int(time.Since(start).Seconds()*refusalRate) + 2
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
	if lines == 0 || lines > most {
		t.Errorf("%d refusal lines for %d refusals, want 1..%d", lines, flood+1, most)
	}
	if accounted != flood+1 {
		t.Errorf("lines plus suppressed counts account for %d refusals, want %d", accounted, flood+1)
	}
}
