package conf

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/BurntSushi/toml"
)

// fuzzFile names fuzzed documents; relative cert paths resolve in testdata/
// so that seeds with TLS can parse successfully.
const fuzzFile = "testdata/fuzz.toml"

// FuzzParse checks that Parse never panics, is deterministic, reports
// well-formed problems, and that every successful parse satisfies the
// invariants the rest of tether relies on. For documents toml accepts it
// also checks that the line index knows every key on a plausible line.
func FuzzParse(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 1<<16 {
			return
		}
		c, err := Parse(fuzzFile, data)
		c2, err2 := Parse(fuzzFile, data)
		if fmt.Sprint(err) != fmt.Sprint(err2) || dump(c) != dump(c2) {
			t.Fatalf("Parse is not deterministic:\n%v\n%v", err, err2)
		}
		if err != nil {
			if c != nil {
				t.Fatalf("config returned with error %v", err)
			}
			checkProblems(t, data, err)
		} else {
			checkConfig(t, c)
		}
		var raw map[string]any
		if _, err := toml.Decode(string(data), &raw); err == nil {
			checkLineIndex(t, data, raw)
		}
	})
}

func checkProblems(t *testing.T, data []byte, err error) {
	var ps Problems
	if !errors.As(err, &ps) || len(ps) == 0 {
		t.Fatalf("error is not a non-empty Problems: %T %v", err, err)
	}
	nlines := bytes.Count(data, []byte("\n")) + 1
	prev := 0
	for _, p := range ps {
		if p.File != fuzzFile || p.Msg == "" {
			t.Errorf("malformed problem %+v", p)
		}
		if s := p.Error(); strings.ContainsAny(s, "\n\r") {
			t.Errorf("problem spans lines: %q", s)
		}
		if p.Line < 0 || p.Line > nlines {
			t.Errorf("problem line %d outside 0..%d: %v", p.Line, nlines, p)
		}
		if p.Line == 0 && p.Key != "" && p.Key != "listeners" {
			t.Errorf("problem without a line: %v", p)
		}
		if lo := lineOrder(p.Line); lo < prev {
			t.Errorf("problems out of order at %v", p)
		} else {
			prev = lo
		}
	}
}

// checkConfig re-validates a parsed configuration.
func checkConfig(t *testing.T, c *Config) {
	if c.File != fuzzFile || c.DrainTimeout < 0 || len(c.Listeners) == 0 {
		t.Fatalf("bad config %s", dump(c))
	}
	names := map[string]bool{}
	addrs := map[string]bool{}
	for _, l := range c.Listeners {
		if l.Name == "" || names[l.Name] {
			t.Errorf("listener name %q empty or duplicate", l.Name)
		}
		names[l.Name] = true
		addr, err := parseListenAddr(l.Listen)
		if err != nil || addr != l.Addr || l.Addr.Port() != 0 && addrs[l.Addr.String()] {
			t.Errorf("listener %q: address %q -> %v (%v), duplicate=%t", l.Name, l.Listen, l.Addr, err, addrs[l.Addr.String()])
		}
		addrs[l.Addr.String()] = true // port 0 may repeat: each such listener gets its own port
		if _, ok := c.Upstreams[l.Upstream]; !ok {
			t.Errorf("listener %q: upstream %q does not exist", l.Name, l.Upstream)
		}
		switch l.Preamble {
		case PreambleHTTP, PreambleWebSocket, PreambleNone:
		default:
			t.Errorf("listener %q: preamble %q", l.Name, l.Preamble)
		}
		if l.MaxPreamble < minMaxPreamble || l.MaxPreamble > maxMaxPreamble || l.Line < 1 {
			t.Errorf("listener %q: max_preamble %d line %d", l.Name, l.MaxPreamble, l.Line)
		}
		to := l.Timeouts
		if to.Handshake <= 0 || to.Preamble <= 0 || to.Connect <= 0 || to.Idle <= 0 || to.HalfClose <= 0 {
			t.Errorf("listener %q: timeouts %+v", l.Name, to)
		}
		if l.TLS != nil {
			if len(l.TLS.Certs) == 0 {
				t.Errorf("listener %q: tls without certificates", l.Name)
			}
			for _, ck := range l.TLS.Certs {
				for _, p := range []string{ck.Cert, ck.Key} {
					if fi, err := os.Stat(p); !filepath.IsAbs(p) || err != nil || !fi.Mode().IsRegular() {
						t.Errorf("listener %q: tls file %q: %v", l.Name, p, err)
					}
				}
			}
		}
	}
	for name, u := range c.Upstreams {
		if u.Name != name || len(u.Servers) == 0 || u.Line < 1 {
			t.Errorf("upstream %q: %+v", name, u)
		}
		if u.Balance != BalanceHash && u.Balance != BalanceHashConsistent {
			t.Errorf("upstream %q: balance %q", name, u.Balance)
		}
		if u.ProxyProtocol != ProxyOff && u.ProxyProtocol != ProxyV1 && u.ProxyProtocol != ProxyV2 {
			t.Errorf("upstream %q: proxy_protocol %q", name, u.ProxyProtocol)
		}
		seen := map[string]bool{}
		total, primaries := 0, 0
		for _, s := range u.Servers {
			checkServer(t, s)
			if seen[s.Name] {
				t.Errorf("upstream %q: duplicate server %+v", name, s)
			}
			seen[s.Name] = true
			if !s.Backup {
				total += s.Weight
				primaries++
			}
		}
		if primaries == 0 || total > maxWeight {
			t.Errorf("upstream %q: %d primary servers, total weight %d", name, primaries, total)
		}
	}
}

// checkServer checks the invariants of a parsed server and that it
// survives a round trip through its canonical server line.
func checkServer(t *testing.T, s Server) {
	t.Helper()
	if s.Weight < 1 || s.Weight > maxWeight || s.Port == 0 || s.MaxFails < 0 || s.MaxConns < 0 ||
		s.FailTimeout < 0 || s.FailTimeout%time.Second != 0 || s.Host == "" {
		t.Errorf("server invariants violated: %+v", s)
	}
	if strings.HasPrefix(s.Name, "[") {
		if !strings.HasPrefix(s.Name, "["+s.Host+"]:") {
			t.Errorf("server %+v: name does not start with [host]:", s)
		}
	} else if !strings.HasPrefix(s.Name, s.Host+":") {
		t.Errorf("server %+v: name does not start with host:", s)
	}
	line := fmt.Sprintf("%s weight=%d max_fails=%d fail_timeout=%d max_conns=%d", s.Name, s.Weight, s.MaxFails, s.FailTimeout/time.Second, s.MaxConns)
	if s.Down {
		line += " down"
	}
	if s.Backup {
		line += " backup"
	}
	if s.Resolve {
		line += " resolve"
	}
	again, err := ParseServer(line)
	if err != nil || again != s {
		t.Errorf("round trip of %+v via %q: %+v, %v", s, line, again, err)
	}
}

// checkLineIndex checks that every key of the decoded document is in the
// line index, on a line that mentions it.
func checkLineIndex(t *testing.T, data []byte, raw map[string]any) {
	idx := indexLines(data)
	lines := strings.Split(string(data), "\n")
	var walk func(p keyPath, v any)
	check := func(p keyPath, name string) {
		l, ok := idx[p.String()]
		if !ok {
			t.Errorf("key %s not in line index %v", p, idx)
			return
		}
		if l < 1 || l > len(lines) {
			t.Errorf("key %s: line %d outside the document", p, l)
			return
		}
		if name != "" && !strings.HasPrefix(p[len(p)-1], `"`) && !strings.Contains(lines[l-1], name) {
			t.Errorf("key %s: line %d %q does not mention %q", p, l, lines[l-1], name)
		}
	}
	walk = func(p keyPath, v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, e := range v {
				kp := p.key(k)
				check(kp, k)
				walk(kp, e)
			}
		case []map[string]any:
			for i, e := range v {
				check(p.index(i), "")
				walk(p.index(i), e)
			}
		case []any:
			for i, e := range v {
				check(p.index(i), "")
				walk(p.index(i), e)
			}
		}
	}
	walk(nil, raw)
}

// FuzzParseServer checks that ParseServer never panics, that its result
// satisfies the Server invariants and round-trips, and that Name is the
// address token of the input, exactly as written.
func FuzzParseServer(f *testing.F) {
	f.Fuzz(func(t *testing.T, s string) {
		srv, err := ParseServer(s)
		if err != nil {
			if srv != (Server{}) || err.Error() == "" {
				t.Fatalf("ParseServer(%q) = %+v, %v", s, srv, err)
			}
			return
		}
		checkServer(t, srv)
		fields := strings.Fields(s)
		if fields[0] == "server" && len(fields) > 1 {
			fields = fields[1:]
		}
		if tok := fields[0]; srv.Name != tok && srv.Name+";" != tok || !strings.Contains(s, srv.Name) {
			t.Errorf("ParseServer(%q): Name %q is not the address as written", s, srv.Name)
		}
		again, err := ParseServer(srv.Name)
		if err != nil || again.Name != srv.Name || again.Host != srv.Host || again.Port != srv.Port {
			t.Errorf("ParseServer(%q) = %+v, %v; want the address of %+v", srv.Name, again, err, srv)
		}
	})
}
