package admin

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tether-proxy/tether/listener"
	"github.com/tether-proxy/tether/upstream"
)

type reloader struct {
	err      error
	calls    int
	drained  string
	undrains int
}

func (r *reloader) Reload(context.Context) error { r.calls++; return r.err }

func (r *reloader) WriteMetrics(w io.Writer) { io.WriteString(w, "tether_test_metric 1\n") }

func (r *reloader) Status() listener.Status {
	return listener.Status{Upstreams: []listener.UpstreamStatus{{Name: "app", Peers: []upstream.PeerStatus{
		{Server: "127.0.0.1:3001", Addr: "127.0.0.1:3001", State: upstream.StateUp, Active: 7, Share: 0.5}}}}}
}

func (r *reloader) Drain(up, target string, d, spread time.Duration) (int, error) {
	if up != "app" {
		return 0, errors.New("no upstream named " + up)
	}
	r.drained = target + "/" + d.String() + "/" + spread.String()
	return 1, nil
}

func (r *reloader) Undrain(up, target string) (int, error) {
	r.drained = ""
	r.undrains++
	return 1, nil
}

func TestHandler(t *testing.T) {
	tests := []struct {
		name, method, path string
		reloadErr          error
		wantCode           int
		wantBody           string
		wantCalls          int
		wantDrained        string // the Drain call's target/deadline/spread
	}{
		{"health", "GET", "/healthz", nil, 200, "ok", 0, ""},
		{"reload ok", "POST", "/reload", nil, 200, `"ok":true`, 1, ""},
		{"reload rejected", "POST", "/reload", errors.New("tether.toml:3: listeners[0].listen: bad"), 400, `listeners[0].listen`, 1, ""},
		{"reload needs POST", "GET", "/reload", nil, 405, "", 0, ""},
		{"metrics", "GET", "/metrics", nil, 200, "tether_test_metric 1", 0, ""},
		{"process metrics", "GET", "/metrics", nil, 200, "process_resident_memory_bytes", 0, ""},
		{"status page", "GET", "/status", nil, 200, "<title>tether status</title>", 0, ""},
		{"status data", "GET", "/status.json", nil, 200, `"server":"127.0.0.1:3001"`, 0, ""},
		{"drain", "POST", "/drain?upstream=app&server=127.0.0.1:3001&deadline=30s", nil, 200, `"peers":1`, 0, "127.0.0.1:3001/30s/-1ns"},
		{"drain bad deadline", "POST", "/drain?upstream=app&server=x&deadline=soon", nil, 400, "deadline", 0, ""},
		{"drain with spread", "POST", "/drain?upstream=app&server=127.0.0.1:3001&deadline=1m&spread=20s", nil, 200, `"peers":1`, 0, "127.0.0.1:3001/1m0s/20s"},
		{"drain bad spread", "POST", "/drain?upstream=app&server=x&spread=-1s", nil, 400, "spread: want a duration", 0, ""},
		{"drain unknown upstream", "POST", "/drain?upstream=nope&server=x", nil, 400, "no upstream named nope", 0, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := &reloader{err: tc.reloadErr}
			srv := httptest.NewServer(Handler(r, slog.New(slog.NewTextHandler(io.Discard, nil)), Options{}))
			defer srv.Close()
			req, _ := http.NewRequest(tc.method, srv.URL+tc.path, nil)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if r.drained != tc.wantDrained {
				t.Errorf("%s %s: drained %q, want %q", tc.method, tc.path, r.drained, tc.wantDrained)
			}
			if resp.StatusCode != tc.wantCode || !strings.Contains(string(body), tc.wantBody) || r.calls != tc.wantCalls {
				t.Fatalf("%s %s: %d %q (reloads %d), want %d containing %q (reloads %d)",
					tc.method, tc.path, resp.StatusCode, body, r.calls, tc.wantCode, tc.wantBody, tc.wantCalls)
			}
		})
	}
}

// TestPprof: the profiling handlers are served only when Options.Pprof says so.
func TestPprof(t *testing.T) {
	gzipMagic := "\x1f\x8b" // a CPU profile is a gzipped protobuf
	tests := []struct {
		name     string
		opts     Options
		path     string
		wantCode int
		wantBody string
	}{
		{"off by default: index", Options{}, "/debug/pprof/", 404, ""},
		{"off by default: cpu profile", Options{}, "/debug/pprof/profile?seconds=1", 404, ""},
		{"off by default: heap", Options{}, "/debug/pprof/heap", 404, ""},
		{"off by default: cmdline", Options{}, "/debug/pprof/cmdline", 404, ""},
		{"on: index", Options{Pprof: true}, "/debug/pprof/", 200, "Types of profiles available"},
		{"on: named profile", Options{Pprof: true}, "/debug/pprof/goroutine?debug=1", 200, "goroutine profile:"},
		{"on: cmdline", Options{Pprof: true}, "/debug/pprof/cmdline", 200, ""},
		{"on: symbol", Options{Pprof: true}, "/debug/pprof/symbol", 200, "num_symbols"},
		{"on: cpu profile", Options{Pprof: true}, "/debug/pprof/profile?seconds=1", 200, gzipMagic},
		{"on: the other endpoints stay", Options{Pprof: true}, "/healthz", 200, "ok"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(Handler(&reloader{}, slog.New(slog.NewTextHandler(io.Discard, nil)), tc.opts))
			defer srv.Close()
			resp, err := http.Get(srv.URL + tc.path)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.wantCode || !strings.Contains(string(body), tc.wantBody) {
				t.Fatalf("GET %s with %+v: %d %.200q, want %d containing %q", tc.path, tc.opts, resp.StatusCode, body, tc.wantCode, tc.wantBody)
			}
		})
	}
}

// TestGuard pins the protections of the state-changing endpoints against cross-site requests
// (issue 10 item 4): a page on another origin (Origin: http://evil.example with a text/plain
// body, which a browser sends without a preflight) and a DNS-rebinding page (Host:
// evil.example:9090) are refused 403 and nothing is drained; a same-origin request, one without
// browser headers (curl) and every GET pass; with a token, a POST without it gets 401.
func TestGuard(t *testing.T) {
	const token = "s3cret-token"
	tests := []struct {
		name     string
		opts     Options
		method   string
		path     string
		header   map[string]string // "Host" sets the Host header; "SAME-ORIGIN" in a value is the server's own origin
		wantCode int
		wantCall bool // the Target was called
	}{
		{"cross-site drain, text/plain", Options{}, "POST", "/drain?upstream=app&server=a",
			map[string]string{"Origin": "http://evil.example", "Content-Type": "text/plain"}, 403, false},
		{"cross-site drain, Sec-Fetch-Site", Options{}, "POST", "/drain?upstream=app&server=a",
			map[string]string{"Sec-Fetch-Site": "cross-site"}, 403, false},
		{"opaque origin (sandboxed frame, file:)", Options{}, "POST", "/reload",
			map[string]string{"Origin": "null"}, 403, false},
		{"DNS rebinding undrain", Options{}, "POST", "/undrain?upstream=app&server=a",
			map[string]string{"Host": "evil.example:9090"}, 403, false},
		{"DNS rebinding reload, same origin as the page", Options{}, "POST", "/reload",
			map[string]string{"Host": "evil.example:9090", "Origin": "http://evil.example:9090", "Sec-Fetch-Site": "same-origin"}, 403, false},
		{"Host another address", Options{}, "POST", "/reload",
			map[string]string{"Host": "10.9.9.9:9090"}, 403, false},
		{"curl: no Origin", Options{}, "POST", "/drain?upstream=app&server=a", nil, 200, true},
		{"same-origin page", Options{}, "POST", "/drain?upstream=app&server=a",
			map[string]string{"Origin": "SAME-ORIGIN", "Sec-Fetch-Site": "same-origin"}, 200, true},
		{"localhost", Options{}, "POST", "/undrain?upstream=app&server=a", map[string]string{"Host": "localhost:9090"}, 200, true},
		{"configured name", Options{Hosts: []string{"Proxy.Example.com"}}, "POST", "/reload",
			map[string]string{"Host": "proxy.example.com:9090"}, 200, true},
		{"GET stays open to any Origin", Options{}, "GET", "/status.json",
			map[string]string{"Origin": "http://evil.example", "Host": "evil.example:9090"}, 200, false},
		{"token missing", Options{Token: token}, "POST", "/reload", nil, 401, false},
		{"token wrong", Options{Token: token}, "POST", "/reload", map[string]string{"Authorization": "Bearer s3cret-tokeN"}, 401, false},
		{"token as basic", Options{Token: token}, "POST", "/reload", map[string]string{"Authorization": "Basic " + token}, 401, false},
		{"token right", Options{Token: token}, "POST", "/reload", map[string]string{"Authorization": "Bearer " + token}, 200, true},
		{"token right, cross-site still refused", Options{Token: token}, "POST", "/reload",
			map[string]string{"Authorization": "Bearer " + token, "Origin": "http://evil.example"}, 403, false},
		{"GET needs no token", Options{Token: token}, "GET", "/status.json", nil, 200, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := &reloader{}
			srv := httptest.NewServer(Handler(r, slog.New(slog.NewTextHandler(io.Discard, nil)), tc.opts))
			defer srv.Close()
			req, _ := http.NewRequest(tc.method, srv.URL+tc.path, strings.NewReader("x"))
			for k, v := range tc.header {
				v = strings.ReplaceAll(v, "SAME-ORIGIN", srv.URL)
				if k == "Host" {
					req.Host = v
				} else {
					req.Header.Set(k, v)
				}
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			called := r.calls > 0 || r.drained != "" || r.undrains > 0
			if resp.StatusCode != tc.wantCode || called != tc.wantCall {
				t.Fatalf("%s %s %v: %d %q (target called: %v), want %d (called: %v)",
					tc.method, tc.path, tc.header, resp.StatusCode, body, called, tc.wantCode, tc.wantCall)
			}
		})
	}
}

// TestStatusJSONKeys pins every key of /status.json (issue 10 item 6: it mixed `name`,
// `active` with `Server`, `Addr`, `State`): one style, snake_case, as README documents.
// A renamed or added field fails here and must be documented there.
func TestStatusJSONKeys(t *testing.T) {
	now := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	full := statusTarget{st: listener.Status{
		Listeners: []listener.ListenerStatus{{Name: "wss", Addr: "127.0.0.1:8443", Upstream: "app", TLS: true, Preamble: "http", Active: 3,
			Accepted: 9, BytesUp: 10, BytesDown: 20, Refused: map[string]uint64{"listener max_conns": 2}}},
		Engine: listener.EngineStatus{Loops: 2, LoopTunnels: 1},
		Upstreams: []listener.UpstreamStatus{{Name: "app", Balance: "hash", Peers: []upstream.PeerStatus{{
			Server: "a:1", Addr: "127.0.0.1:1", State: upstream.StateDraining, Backup: true, Weight: 2, MaxConns: 9,
			Active: 1, Total: 5, Fails: 1, Share: 0.5, BytesUp: 1, BytesDown: 2, Checked: true, LastCheck: now, CheckOK: false,
			CheckErr: "refused", DrainDeadline: now}}}},
	}}
	history := NewRecorder(&full, 10*time.Second, 15*time.Minute)
	history.sample(now)
	srv := httptest.NewServer(Handler(&full, slog.New(slog.NewTextHandler(io.Discard, nil)), Options{Version: "v1", Started: now, History: history}))
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/status.json")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var doc any
	if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil {
		t.Fatal(err)
	}
	var got []string
	var walk func(prefix string, v any)
	walk = func(prefix string, v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, e := range v {
				got = append(got, prefix+k)
				if prefix+k != "listeners.refused" { // its keys are the refusal reasons, data
					walk(prefix+k+".", e)
				}
			}
		case []any:
			for _, e := range v {
				walk(prefix, e)
			}
		}
	}
	walk("", doc)
	slices.Sort(got)
	got = slices.Compact(got)
	want := []string{
		"engine", "engine.loop_tunnels", "engine.loops",
		"history", "history.interval_seconds", "history.points", "history.points.accepted", "history.points.active", "history.points.time",
		"listeners", "listeners.accepted", "listeners.active", "listeners.addr", "listeners.bytes_down", "listeners.bytes_up",
		"listeners.name", "listeners.preamble", "listeners.refused", "listeners.tls", "listeners.upstream",
		"process", "process.goroutines", "process.max_fds", "process.open_fds", "process.pid", "process.rss_bytes",
		"process.started", "process.uptime_seconds", "process.version",
		"time",
		"upstreams", "upstreams.balance", "upstreams.name", "upstreams.peers",
		"upstreams.peers.active", "upstreams.peers.addr", "upstreams.peers.backup", "upstreams.peers.bytes_down", "upstreams.peers.bytes_up", "upstreams.peers.check_error",
		"upstreams.peers.check_ok", "upstreams.peers.checked", "upstreams.peers.drain_deadline", "upstreams.peers.fails",
		"upstreams.peers.last_check", "upstreams.peers.max_conns", "upstreams.peers.server", "upstreams.peers.share",
		"upstreams.peers.state", "upstreams.peers.total", "upstreams.peers.weight",
	}
	if !slices.Equal(got, want) {
		t.Errorf("keys of /status.json:\n got %q\nwant %q", got, want)
	}
	snake := regexp.MustCompile(`^[a-z][a-z0-9_]*$`)
	for _, k := range got {
		for _, part := range strings.Split(k, ".") {
			if !snake.MatchString(part) {
				t.Errorf("key %q is not snake_case", k)
			}
		}
	}
}

// statusTarget is a Target whose Status is st.
type statusTarget struct {
	reloader
	st listener.Status
}

func (s *statusTarget) Status() listener.Status { return s.st }
