package listener

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/tether-proxy/tether/conf"
	"github.com/tether-proxy/tether/hashing"
	"github.com/tether-proxy/tether/upstream"
)

// TestFailoverLikeNginx: a backend that refuses connections behaves exactly like a `down` one
// (measured on real nginx, see hashing/testdata/nginx-hash/README.md): its clients move to the
// next point of the ring, everyone else stays.
func TestFailoverLikeNginx(t *testing.T) {
	t.Parallel()
	b1 := startBackend(t, "b1", "127.0.0.1:0", whoAmI)
	b2 := startBackend(t, "b2", "127.0.0.1:0", whoAmI)
	dead := refusingPort(t) // nothing listens here: connects are refused
	deadAddr := fmt.Sprintf("127.0.0.1:%d", dead)
	p := startProxy(t, fmt.Sprintf(`
[[listeners]]
name = "l"
listen = "127.0.0.1:0"
upstream = "app"
[upstreams.app]
servers = ["%s", "%s", "%s"]
`, b1.addr(), deadAddr, b2.addr()))

	// The same upstream with the dead server marked down, to know where nginx would send everyone.
	withDown := &conf.Upstream{Name: "app", Balance: conf.BalanceHashConsistent}
	for _, s := range []string{b1.addr(), deadAddr + " down", b2.addr()} {
		srv, err := conf.ParseServer(s)
		if err != nil {
			t.Fatal(err)
		}
		withDown.Servers = append(withDown.Servers, srv)
	}
	expect, err := upstream.New(context.Background(), withDown, net.DefaultResolver, nil)
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]string{"b1": b1.addr(), "b2": b2.addr()}
	movedOff := 0
	for i := range 60 {
		src := netip.AddrFrom4([4]byte{127, 0, byte(i / 200), byte(1 + i%200)})
		key := hashing.AppendRemoteAddr(nil, src, false)
		if p.srv.Pool("app").Lookup(key).String() == deadAddr {
			movedOff++
		}
		c := dialFrom(t, src.String(), p.addr("l"))
		resp := get(t, c, "/")
		c.Close()
		_, body, _ := strings.Cut(resp, "\r\n\r\n")
		name, _, _ := strings.Cut(body, "\n")
		if want := expect.Lookup(key).String(); names[name] != want {
			t.Fatalf("client %s reached %q, want %s as with the dead server down", src, name, want)
		}
	}
	if movedOff == 0 {
		t.Fatal("no client hashed to the dead server; the test proves nothing")
	}
	p.log.waitLog(t, "connection refused")
}

// TestRefusals: every refusal is bounded, answered and logged with its reason.
func TestRefusals(t *testing.T) {
	t.Parallel()
	b := startBackend(t, "b", "127.0.0.1:0", whoAmI)
	dead := refusingPort(t)
	p := startProxy(t, fmt.Sprintf(`
[[listeners]]
name = "l"
listen = "127.0.0.1:0"
upstream = "app"
max_preamble = 2048
  [listeners.timeouts]
  preamble = "300ms"
[[listeners]]
name = "nobackend"
listen = "127.0.0.1:0"
upstream = "dead"
[upstreams.app]
servers = ["%s"]
[upstreams.dead]
servers = ["127.0.0.1:%d"]
`, b.addr(), dead))

	tests := []struct {
		name, listener, send string
		wantStatus           int
		wantLog              string
	}{
		{"slow head times out", "l", "GET / HTTP/1.1\r\nHost: x\r\n", 408, `"status":408`},
		{"oversized head", "l", "GET / HTTP/1.1\r\nHost: x\r\nX: " + strings.Repeat("a", 4000) + "\r\n\r\n", 400, "too large"},
		{"garbage", "l", "\x00\x01\x02\r\n\r\n", 400, `"status":400`},
		{"no backend", "nobackend", "GET / HTTP/1.1\r\nHost: x\r\n\r\n", 502, `"reason":"no backend"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := dialFrom(t, "127.0.0.1", p.addr(tc.listener))
			defer c.Close()
			c.SetDeadline(time.Now().Add(10 * time.Second))
			io.WriteString(c, tc.send)
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tc.wantStatus || !resp.Close {
				t.Fatalf("status %d, Connection: close %v; want %d, close", resp.StatusCode, resp.Close, tc.wantStatus)
			}
			p.log.waitLog(t, tc.wantLog)
		})
	}
}

// TestDualStackKey: on an IPv6 listener with ipv6only = false an IPv4 client's key is
// ::ffff:a.b.c.d, as nginx spells $remote_addr on such a socket.
func TestDualStackKey(t *testing.T) {
	t.Parallel()
	var servers []string
	byName := map[string]string{}
	for i := range 3 {
		b := startBackend(t, fmt.Sprintf("b%d", i), "127.0.0.1:0", whoAmI)
		servers = append(servers, fmt.Sprintf("%q", b.addr()))
		byName[b.name] = b.addr()
	}
	// [::]:0 with ipv6only = false: the kernel hands out a port free on both families.
	p := startProxy(t, fmt.Sprintf(`
[[listeners]]
name = "dual"
listen = "[::]:0"
ipv6only = false
upstream = "app"
[upstreams.app]
servers = [%s]
`, strings.Join(servers, ", ")))
	_, port, _ := net.SplitHostPort(p.addr("dual"))
	pool := p.srv.Pool("app")
	differs := 0
	for i := range 40 {
		src := netip.AddrFrom4([4]byte{127, 7, byte(i), 9})
		c := dialFrom(t, src.String(), net.JoinHostPort("127.0.0.1", port))
		resp := get(t, c, "/")
		c.Close()
		_, body, _ := strings.Cut(resp, "\r\n\r\n")
		name, _, _ := strings.Cut(body, "\n")
		mapped := pool.Lookup([]byte("::ffff:" + src.String())).String()
		if byName[name] != mapped {
			t.Fatalf("client %s reached %s, want %s (key ::ffff:%s)", src, byName[name], mapped, src)
		}
		if pool.Lookup([]byte(src.String())).String() != mapped {
			differs++
		}
	}
	if differs == 0 {
		t.Fatal("the mapped and plain keys never disagree: the test cannot tell them apart")
	}
}

// TestShutdownDrains: Shutdown stops accepting at once, lets an open tunnel keep working
// during the drain, and tears it down (logged "drain") when the deadline passes.
func TestShutdownDrains(t *testing.T) {
	t.Parallel()
	b := startBackend(t, "echo", "127.0.0.1:0", echo)
	p := startProxy(t, fmt.Sprintf(`
[[listeners]]
name = "l"
listen = "127.0.0.1:0"
upstream = "app"
preamble = "none"
[upstreams.app]
servers = ["%s"]
`, b.addr()))
	c := dialFrom(t, "127.0.0.1", p.addr("l"))
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	roundTrip := func() error {
		if _, err := io.WriteString(c, "ping"); err != nil {
			return err
		}
		buf := make([]byte, 4)
		_, err := io.ReadFull(c, buf)
		return err
	}
	if err := roundTrip(); err != nil {
		t.Fatal(err)
	}
	addr := p.addr("l")
	ctx, cancel := context.WithTimeout(context.Background(), 700*time.Millisecond)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- p.srv.Shutdown(ctx) }()
	time.Sleep(100 * time.Millisecond)
	if c2, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		c2.Close()
		t.Fatal("listener still accepts during the drain")
	}
	if err := roundTrip(); err != nil {
		t.Fatalf("open tunnel broke during the drain: %v", err)
	}
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("Shutdown returned nil although a tunnel outlived the deadline")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Shutdown did not return after its deadline")
	}
	if _, err := c.Read(make([]byte, 1)); err == nil {
		t.Fatal("tunnel still open after the drain deadline")
	}
	p.log.waitLog(t, `"reason":"drain"`)
}

// TestNoLeaks: after many connections of every kind end, no goroutine or fd is left.
func TestNoLeaks(t *testing.T) {
	// Not parallel: it counts the process's goroutines and fds.
	b := startBackend(t, "b", "127.0.0.1:0", whoAmI)
	e := startBackend(t, "e", "127.0.0.1:0", echo)
	dead := refusingPort(t)
	p := startProxy(t, fmt.Sprintf(`
[[listeners]]
name = "http"
listen = "127.0.0.1:0"
upstream = "who"
  [listeners.timeouts]
  preamble = "200ms"
[[listeners]]
name = "tls"
listen = "127.0.0.1:0"
upstream = "echo"
preamble = "none"
  [listeners.tls]
  cert = "%%CERT%%"
  key = "%%KEY%%"
[[listeners]]
name = "dead"
listen = "127.0.0.1:0"
upstream = "dead"
[upstreams.who]
servers = ["%s"]
[upstreams.echo]
servers = ["%s"]
[upstreams.dead]
servers = ["127.0.0.1:%d"]
`, b.addr(), e.addr(), dead))
	settle := func() (int, int) {
		runtime.GC()
		return runtime.NumGoroutine(), countFDs(t)
	}
	// Warm up once so lazily started runtime goroutines do not count as leaks.
	c := dialFrom(t, "127.0.0.1", p.addr("http"))
	get(t, c, "/")
	c.Close()
	time.Sleep(100 * time.Millisecond)
	g0, f0 := settle()

	var silent []net.Conn
	for i := range 150 {
		src := fmt.Sprintf("127.0.%d.%d", i/100, 1+i%100)
		switch i % 5 {
		case 0: // a full request through the proxy
			c := dialFrom(t, src, p.addr("http"))
			get(t, c, "/")
			c.Close()
		case 1: // bad head
			c := dialFrom(t, src, p.addr("http"))
			get(t, c, "/ bad")
			c.Close()
		case 2: // TLS tunnel, then the client resets
			c := dialFrom(t, src, p.addr("tls"))
			c.(*net.TCPConn).SetLinger(0)
			c.Close()
		case 3: // backend refused
			c := dialFrom(t, src, p.addr("dead"))
			get(t, c, "/")
			c.Close()
		case 4: // client goes silent; the preamble timeout reaps it
			c := dialFrom(t, src, p.addr("http"))
			io.WriteString(c, "GET / HT")
			silent = append(silent, c)
		}
	}
	// The silent clients stay connected: tether must reap them on its own.
	deadline := time.Now().Add(10 * time.Second)
	for p.srv.Active() != 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	for _, c := range silent {
		c.Close()
	}
	for {
		g, f := settle()
		if p.srv.Active() == 0 && g <= g0 && f <= f0 {
			break
		}
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			n := runtime.Stack(buf, true)
			t.Fatalf("after the connections ended: %d active, goroutines %d (was %d), fds %d (was %d)\n%s",
				p.srv.Active(), g, g0, f, f0, buf[:n])
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func countFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip("no /proc/self/fd")
	}
	return len(ents)
}

// TestReusePort: with reuseport two processes (here two Servers) listen on one address and both
// get connections, the way several tether processes shard one port.
func TestReusePort(t *testing.T) {
	t.Parallel()
	b := startBackend(t, "b", "127.0.0.1:0", whoAmI)
	cfg := `
[[listeners]]
name = "l"
listen = "127.0.0.1:%s"
upstream = "app"
reuseport = true
[upstreams.app]
servers = ["%s"]
`
	p1 := startProxy(t, fmt.Sprintf(cfg, "0", b.addr()))
	_, port, _ := net.SplitHostPort(p1.addr("l")) // the second binds the port the kernel gave the first
	p2 := startProxy(t, fmt.Sprintf(cfg, port, b.addr()))
	for i := range 60 {
		c := dialFrom(t, fmt.Sprintf("127.0.8.%d", i+1), p1.addr("l"))
		get(t, c, "/")
		c.Close()
	}
	for _, p := range []*proxy{p1, p2} {
		p.log.waitLog(t, `"msg":"tunnel closed"`)
	}
}
