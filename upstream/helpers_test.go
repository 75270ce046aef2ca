package upstream

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tether-proxy/tether/conf"
)

// parseUpstream parses body as the [upstreams.app] table of a real configuration.
func parseUpstream(t *testing.T, body string) *conf.Upstream {
	t.Helper()
	doc := "[[listeners]]\nname = \"l\"\nlisten = \"127.0.0.1:1\"\nupstream = \"app\"\n\n[upstreams.app]\n" + body
	cfg, err := conf.Parse("test.toml", []byte(doc))
	if err != nil {
		t.Fatalf("configuration:\n%s\n%v", body, err)
	}
	return cfg.Upstreams["app"]
}

// backend is an echo server on a fixed loopback address that a test stops and starts again:
// a backend that comes and goes.
type backend struct {
	t     *testing.T
	addr  string
	mu    sync.Mutex
	ln    net.Listener
	conns map[net.Conn]bool
	wg    sync.WaitGroup
}

// startBackend listens on addr ("127.0.0.1:0" for any port) until the test ends.
func startBackend(t *testing.T, addr string) *backend {
	t.Helper()
	b := &backend{t: t, addr: addr, conns: map[net.Conn]bool{}}
	b.start()
	t.Cleanup(b.stop)
	return b
}

func (b *backend) start() {
	b.t.Helper()
	ln, err := net.Listen("tcp", b.addr)
	if err != nil {
		b.t.Fatal(err)
	}
	b.mu.Lock()
	b.ln, b.addr = ln, ln.Addr().String()
	b.mu.Unlock()
	b.wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			b.mu.Lock()
			b.conns[c] = true
			b.mu.Unlock()
			b.wg.Go(func() {
				io.Copy(c, c)
				c.Close()
				b.mu.Lock()
				delete(b.conns, c)
				b.mu.Unlock()
			})
		}
	})
}

// stop closes the listener and every connection: connects are refused until start.
func (b *backend) stop() {
	b.mu.Lock()
	if b.ln != nil {
		b.ln.Close()
		b.ln = nil
	}
	for c := range b.conns {
		c.Close()
	}
	b.mu.Unlock()
	b.wg.Wait()
}

// logBuffer collects JSON log lines.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func newLog() (*slog.Logger, *logBuffer) {
	lb := &logBuffer{}
	return slog.New(slog.NewJSONHandler(lb, &slog.HandlerOptions{Level: slog.LevelDebug})), lb
}

// records returns the logged records whose msg is msg.
func (l *logBuffer) records(msg string) []map[string]any {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []map[string]any
	for _, line := range strings.Split(l.buf.String(), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) == nil && m["msg"] == msg {
			out = append(out, m)
		}
	}
	return out
}

// startPool builds a pool of u with the system resolver and starts it, logging to the returned
// buffer. The caller closes it (before any checkNoLeaks).
func startPool(t *testing.T, u *conf.Upstream) (*Pool, *logBuffer) {
	t.Helper()
	p, err := New(context.Background(), u, net.DefaultResolver, nil)
	if err != nil {
		t.Fatal(err)
	}
	log, logs := newLog()
	p.Start(context.Background(), log)
	return p, logs
}

// waitFor polls cond until it holds, failing the test after a generous bound.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// status returns the snapshot entry of the peer dialled at addr.
func status(t *testing.T, p *Pool, addr string) PeerStatus {
	t.Helper()
	for _, s := range p.Snapshot() {
		if s.Addr == addr {
			return s
		}
	}
	t.Fatalf("no peer %s in %+v", addr, p.Snapshot())
	return PeerStatus{}
}

// keyFor returns a client key whose first choice (all healthy) is the peer at addr.
func keyFor(t *testing.T, p *Pool, addr string) []byte {
	t.Helper()
	for i := range 5000 {
		k := fmt.Appendf(nil, "10.1.%d.%d", i/250, i%250)
		if peer := p.Lookup(k); peer != nil && peer.String() == addr {
			return k
		}
	}
	t.Fatalf("no key maps to %s", addr)
	return nil
}

// recordingDialer dials for real and records every address it was asked for.
type recordingDialer struct {
	mu    sync.Mutex
	d     net.Dialer
	calls []string
}

func (r *recordingDialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	r.mu.Lock()
	r.calls = append(r.calls, addr)
	r.mu.Unlock()
	return r.d.DialContext(ctx, network, addr)
}

func (r *recordingDialer) take() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	c := r.calls
	r.calls = nil
	return c
}

// checkNoLeaks fails t when goroutines of the pool's background work are still running a
// moment after Close returned (they should be gone when it returns).
func checkNoLeaks(t *testing.T) {
	t.Helper()
	markers := []string{"upstream.(*Pool).checkLoop", "upstream.(*Pool).resolveLoop", "upstream.(*checker).probe",
		"upstream.(*Pool).drainDeadline", "net/http.(*persistConn)"}
	var stacks string
	for range 200 {
		buf := make([]byte, 1<<20)
		stacks = string(buf[:runtime.Stack(buf, true)])
		leaked := false
		for _, m := range markers {
			leaked = leaked || strings.Contains(stacks, m)
		}
		if !leaked {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("goroutines left behind after Close:\n%s", stacks)
}

// addrTargets returns the targets of plain server line i of p at addrs, as lookup would.
func addrTargets(p *Pool, i int, addrs ...netip.Addr) []target {
	s := p.cfg.Servers[i]
	out := make([]target, len(addrs))
	for j, a := range addrs {
		out[j] = target{s, netip.AddrPortFrom(a, s.Port)}
	}
	return out
}

// wasDrained reports whether a drain deadline closed the lease's tunnel.
func (l *Lease) wasDrained() bool {
	l.Peer.mu.Lock()
	defer l.Peer.mu.Unlock()
	return l.drained
}
