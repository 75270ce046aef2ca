package listener

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	proxyproto "github.com/pires/go-proxyproto"

	"github.com/tether-proxy/tether/hashing"
	"github.com/tether-proxy/tether/internal/websocket"
)

// TestWebSocketThroughTLS: a WebSocket client completes the Upgrade through a TLS listener and
// exchanges frames with a real WebSocket backend.
func TestWebSocketThroughTLS(t *testing.T) {
	t.Parallel()
	var servers []string
	for i := range 3 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		name := fmt.Sprintf("ws-%d", i)
		hs := &http.Server{Handler: websocket.EchoHandler(name, nil)}
		go hs.Serve(ln)
		t.Cleanup(func() { hs.Close() })
		servers = append(servers, fmt.Sprintf("%q", ln.Addr().String()))
	}
	p := startProxy(t, fmt.Sprintf(`
[[listeners]]
name = "wss"
listen = "127.0.0.1:0"
upstream = "app"
preamble = "websocket"
  [listeners.tls]
  cert = "%%CERT%%"
  key = "%%KEY%%"
[upstreams.app]
servers = [%s]
`, strings.Join(servers, ", ")))

	roots := x509.NewCertPool()
	roots.AddCert(p.cert.Leaf)
	for i, src := range []string{"127.0.0.1", "127.10.0.1", "127.20.0.2"} {
		raw := dialFrom(t, src, p.addr("wss"))
		conn := tls.Client(raw, &tls.Config{ServerName: "localhost", RootCAs: roots})
		conn.SetDeadline(time.Now().Add(10 * time.Second))
		ws, resp, err := websocket.Client(conn, "wss://localhost/ws", nil)
		if err != nil {
			t.Fatalf("client %d: upgrade: %v", i, err)
		}
		if resp.StatusCode != http.StatusSwitchingProtocols {
			t.Fatalf("status %d", resp.StatusCode)
		}
		_, hello, err := ws.ReadMessage()
		if err != nil || !strings.HasPrefix(string(hello), "hello from ws-") {
			t.Fatalf("hello = %q, %v", hello, err)
		}
		msgs := []struct {
			op   websocket.Opcode
			data []byte
		}{
			{websocket.OpText, []byte("ping from " + src)},
			{websocket.OpBinary, bytes.Repeat([]byte{0, 1, 2, 255}, 40000)},
			{websocket.OpText, []byte("")},
		}
		for _, m := range msgs {
			if err := ws.WriteMessage(m.op, m.data); err != nil {
				t.Fatal(err)
			}
			op, got, err := ws.ReadMessage()
			if err != nil || op != m.op || !bytes.Equal(got, m.data) {
				t.Fatalf("echo of %d bytes: op %v, %d bytes, %v", len(m.data), op, len(got), err)
			}
		}
		ws.Close()
	}
	// RFC 6455 7.1.1: after the close handshake the server closes the TCP connection first.
	p.log.waitLog(t, `"msg":"tunnel closed"`, `"sni":"localhost"`, `"reason":"backend closed"`)
}

// TestPreambleModes: an ordinary HTTP request passes in "http" mode and is refused in
// "websocket" mode; malformed heads are refused in both.
func TestPreambleModes(t *testing.T) {
	t.Parallel()
	b := startBackend(t, "b1", "127.0.0.1:0", whoAmI)
	p := startProxy(t, fmt.Sprintf(`
[[listeners]]
name = "http"
listen = "127.0.0.1:0"
upstream = "app"
preamble = "http"
[[listeners]]
name = "ws"
listen = "127.0.0.1:0"
upstream = "app"
preamble = "websocket"
[upstreams.app]
servers = ["%s"]
`, b.addr()))

	upgrade := "GET /chat HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
	tests := []struct {
		listener, request, wantStatus string
	}{
		{"http", "GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: x\r\n\r\n", "200"},
		{"http", upgrade, "200"},
		{"http", "POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi", "200"},
		{"ws", upgrade, "200"},
		{"ws", "GET / HTTP/1.1\r\nHost: x\r\n\r\n", "426"},
		{"ws", strings.Replace(upgrade, "Version: 13", "Version: 8", 1), "426"},
		// malformed
		{"http", "GET / HTTP/1.1\r\nHost: x\r\nBad Header: y\r\n\r\n", "400"},
		{"http", "GET / HTTP/1.1\r\n\r\n", "400"}, // HTTP/1.1 without Host
		{"ws", "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n", "400"},
		{"http", "GET / HTTP/1.1\r\nHost: x\r\nX: " + strings.Repeat("a", 40000) + "\r\n\r\n", "400"},
	}
	for _, tc := range tests {
		c := dialFrom(t, "127.0.0.1", p.addr(tc.listener))
		c.SetDeadline(time.Now().Add(10 * time.Second))
		io.WriteString(c, tc.request)
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatalf("%s %q: %v", tc.listener, tc.request[:min(40, len(tc.request))], err)
		}
		body, _ := io.ReadAll(resp.Body)
		c.Close()
		if got := fmt.Sprint(resp.StatusCode); got != tc.wantStatus {
			t.Errorf("%s %q: status %s (%s), want %s", tc.listener, tc.request[:min(40, len(tc.request))], got, body, tc.wantStatus)
		}
		if tc.wantStatus == "200" && !strings.HasSuffix(string(body), tc.request[:strings.Index(tc.request, "\r\n\r\n")+4]) {
			t.Errorf("backend saw %q, want the request head replayed exactly", body)
		}
	}
	p.log.waitLog(t, `"reason":"bad request head"`, `"status":426`, `"status":400`)
}

// TestStickyMatchesLookup: many client addresses land exactly where the pool's lookup (the code
// behind `tether lookup`) says, and every backend gets some.
func TestStickyMatchesLookup(t *testing.T) {
	t.Parallel()
	var servers []string
	byAddr := map[string]string{}
	for i := range 4 {
		b := startBackend(t, fmt.Sprintf("b%d", i), "127.0.0.1:0", whoAmI)
		byAddr[b.name] = b.addr()
		servers = append(servers, fmt.Sprintf("%q", b.addr()+fmt.Sprintf(" weight=%d", i%2+1)))
	}
	p := startProxy(t, fmt.Sprintf(`
[[listeners]]
name = "l"
listen = "127.0.0.1:0"
upstream = "app"
[upstreams.app]
servers = [%s]
`, strings.Join(servers, ", ")))
	pool := p.srv.Pool("app")
	rng := rand.New(rand.NewPCG(1, 2))
	seen := map[string]int{}
	for range 200 {
		src := netip.AddrFrom4([4]byte{127, byte(1 + rng.IntN(254)), byte(rng.IntN(256)), byte(1 + rng.IntN(254))})
		c := dialFrom(t, src.String(), p.addr("l"))
		resp := get(t, c, "/")
		c.Close()
		_, body, _ := strings.Cut(resp, "\r\n\r\n")
		name, _, _ := strings.Cut(body, "\n")
		want := pool.Lookup(hashing.AppendRemoteAddr(nil, src, false))
		if want == nil || byAddr[name] != want.String() {
			t.Fatalf("client %s reached %s (%s), lookup says %v", src, name, byAddr[name], want)
		}
		seen[name]++
	}
	if len(seen) != 4 {
		t.Fatalf("clients reached only %v", seen)
	}
}

// TestProxyProtocolOut: the backend sees the right PROXY header, then the replayed head.
func TestProxyProtocolOut(t *testing.T) {
	t.Parallel()
	for _, version := range []string{"v1", "v2"} {
		t.Run(version, func(t *testing.T) {
			t.Parallel()
			type seen struct {
				header *proxyproto.Header
				rest   string
				err    error
			}
			got := make(chan seen, 1)
			b := startBackend(t, "b", "127.0.0.1:0", func(_ string, c net.Conn) {
				c.SetDeadline(time.Now().Add(10 * time.Second))
				br := bufio.NewReader(c)
				h, err := proxyproto.Read(br)
				if err != nil {
					got <- seen{err: err}
					return
				}
				head := make([]byte, len("GET / HTTP/1.1\r\nHost: test\r\n\r\n"))
				_, err = io.ReadFull(br, head)
				got <- seen{header: h, rest: string(head), err: err}
			})
			p := startProxy(t, fmt.Sprintf(`
[[listeners]]
name = "l"
listen = "127.0.0.1:0"
upstream = "app"
[upstreams.app]
servers = ["%s"]
proxy_protocol = "%s"
`, b.addr(), version))
			c := dialFrom(t, "127.3.4.5", p.addr("l"))
			defer c.Close()
			fmt.Fprintf(c, "GET / HTTP/1.1\r\nHost: test\r\n\r\n")
			var r seen
			select {
			case r = <-got:
			case <-time.After(10 * time.Second):
				t.Fatal("backend got nothing")
			}
			if r.err != nil {
				t.Fatalf("backend: %v", r.err)
			}
			if r.rest != "GET / HTTP/1.1\r\nHost: test\r\n\r\n" {
				t.Fatalf("after the header the backend read %q", r.rest)
			}
			h := r.header
			src, dst, ok := h.TCPAddrs()
			if !ok || src.String() != c.LocalAddr().String() || dst.String() != c.RemoteAddr().String() {
				t.Fatalf("header says %v -> %v, want %v -> %v", src, dst, c.LocalAddr(), c.RemoteAddr())
			}
			if wantV := map[string]byte{"v1": 1, "v2": 2}[version]; h.Version != wantV {
				t.Fatalf("header version %d, want %d", h.Version, wantV)
			}
			if version == "v1" {
				raw, _ := h.Format()
				want := fmt.Sprintf("PROXY TCP4 127.3.4.5 127.0.0.1 %d %d\r\n", c.LocalAddr().(*net.TCPAddr).Port, c.RemoteAddr().(*net.TCPAddr).Port)
				if string(raw) != want {
					t.Fatalf("v1 header %q, want %q", raw, want)
				}
			}
		})
	}
}

// TestBulkIntegrity moves 100 MiB each way at the same time through a spliced plain listener and
// a TLS listener, and checks every byte.
func TestBulkIntegrity(t *testing.T) {
	if testing.Short() {
		t.Skip("moves 400 MiB")
	}
	b := startBackend(t, "echo", "127.0.0.1:0", echo)
	p := startProxy(t, fmt.Sprintf(`
[[listeners]]
name = "plain"
listen = "127.0.0.1:0"
upstream = "app"
preamble = "none"
[[listeners]]
name = "tls"
listen = "127.0.0.1:0"
upstream = "app"
preamble = "none"
  [listeners.tls]
  cert = "%%CERT%%"
  key = "%%KEY%%"
[upstreams.app]
servers = ["%s"]
`, b.addr()))
	const size = 100 << 20
	for _, name := range []string{"plain", "tls"} {
		t.Run(name, func(t *testing.T) {
			var c net.Conn = dialFrom(t, "127.0.0.1", p.addr(name))
			if name == "tls" {
				c = tls.Client(c, &tls.Config{InsecureSkipVerify: true})
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(3 * time.Minute))
			sent := make(chan []byte, 1)
			go func() {
				h := sha256.New()
				w := io.MultiWriter(c, h)
				io.Copy(w, io.LimitReader(newPattern(7), size))
				if cw, ok := c.(interface{ CloseWrite() error }); ok {
					cw.CloseWrite()
				}
				sent <- h.Sum(nil)
			}()
			h := sha256.New()
			n, err := io.Copy(h, c)
			if err != nil {
				t.Fatalf("read back: %v after %d bytes", err, n)
			}
			if n != size {
				t.Fatalf("read back %d bytes, want %d", n, size)
			}
			if want := <-sent; !bytes.Equal(h.Sum(nil), want) {
				t.Fatal("echoed bytes differ from the bytes sent")
			}
		})
	}
	p.log.waitLog(t, fmt.Sprintf(`"bytes_up":%d`, size), fmt.Sprintf(`"bytes_down":%d`, size))
}

// pattern is a fast deterministic byte stream.
type pattern struct{ x uint64 }

func newPattern(seed uint64) *pattern { return &pattern{x: seed} }

func (p *pattern) Read(b []byte) (int, error) {
	for i := range b {
		p.x ^= p.x << 13
		p.x ^= p.x >> 7
		p.x ^= p.x << 17
		b[i] = byte(p.x)
	}
	return len(b), nil
}
