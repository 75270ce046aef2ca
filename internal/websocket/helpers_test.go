package websocket

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// testDeadline bounds every test connection so a bug hangs no test forever;
// it never decides pass or fail by itself.
const testDeadline = 30 * time.Second

// newServer starts an httptest server (TLS when useTLS) for h.
func newServer(t testing.TB, useTLS bool, h http.Handler) *httptest.Server {
	t.Helper()
	var srv *httptest.Server
	if useTLS {
		srv = httptest.NewTLSServer(h)
	} else {
		srv = httptest.NewServer(h)
	}
	t.Cleanup(srv.Close)
	return srv
}

// serveConn starts a server whose handler upgrades and passes the Conn to fn.
// Upgrade errors are reported on the returned channel.
func serveConn(t testing.TB, useTLS bool, fn func(c *Conn)) (*httptest.Server, <-chan error) {
	t.Helper()
	upgradeErr := make(chan error, 16)
	srv := newServer(t, useTLS, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := Upgrade(w, r)
		if err != nil {
			upgradeErr <- err
			return
		}
		defer c.Close()
		fn(c)
	}))
	return srv, upgradeErr
}

// dialRaw dials srv from local source IP localIP ("" for any) and, for a
// TLS server, completes a TLS handshake trusting the server's certificate.
func dialRaw(t testing.TB, srv *httptest.Server, localIP string) net.Conn {
	t.Helper()
	d := net.Dialer{Timeout: testDeadline}
	if localIP != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(localIP)}
	}
	conn, err := d.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatalf("dial %s: %v", srv.Listener.Addr(), err)
	}
	_ = conn.SetDeadline(time.Now().Add(testDeadline))
	if srv.TLS != nil {
		pool := x509.NewCertPool()
		pool.AddCert(srv.Certificate())
		tc := tls.Client(conn, &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"})
		if err := tc.Handshake(); err != nil {
			conn.Close()
			t.Fatalf("TLS handshake: %v", err)
		}
		conn = tc
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// wsURL returns the ws:// or wss:// URL of path on srv.
func wsURL(srv *httptest.Server, path string) string {
	return "ws" + strings.TrimPrefix(srv.URL, "http") + path
}

// dialWS connects a WebSocket client to path on srv.
func dialWS(t testing.TB, srv *httptest.Server, path string) *Conn {
	t.Helper()
	c, resp, err := Client(dialRaw(t, srv, ""), wsURL(srv, path), nil)
	if err != nil {
		t.Fatalf("Client: %v (response %v)", err, resp)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// readHello reads and checks EchoHandler's greeting.
func readHello(t testing.TB, c *Conn, name string) string {
	t.Helper()
	op, p, err := c.ReadMessage()
	if err != nil {
		t.Fatalf("read hello: %v", err)
	}
	if op != OpText || !strings.HasPrefix(string(p), "hello from "+name+", you are ") {
		t.Fatalf("hello = %v %q", op, p)
	}
	return string(p)
}

// testKey is a fixed masking key for raw frames written by tests.
var testKey = [4]byte{0x37, 0xfa, 0x21, 0x3d}

// rawFrame encodes one frame, masked with testKey when masked is set.
func rawFrame(fin bool, op Opcode, payload []byte, masked bool) []byte {
	b := appendFrameHeader(nil, fin, op, masked, testKey, int64(len(payload)))
	start := len(b)
	b = append(b, payload...)
	if masked {
		maskBytes(testKey, 0, b[start:])
	}
	return b
}

// concat joins byte slices.
func concat(parts ...[]byte) []byte {
	var b []byte
	for _, p := range parts {
		b = append(b, p...)
	}
	return b
}

// expectPeerClose reads from c until the peer's close and checks its code.
func expectPeerClose(t testing.TB, c *Conn, want uint16) {
	t.Helper()
	for {
		op, p, err := c.ReadMessage()
		if err == nil {
			t.Logf("skipping %v message of %d bytes", op, len(p))
			continue
		}
		if !errors.Is(err, io.EOF) {
			t.Fatalf("ReadMessage error = %v, want io.EOF after a close frame", err)
		}
		break
	}
	code, reason, ok := c.PeerClose()
	if !ok || code != want {
		t.Fatalf("peer close = %d %q (ok %v), want %d", code, reason, ok, want)
	}
}

// recv waits for a value from ch, failing the test after testDeadline.
func recv[T any](t testing.TB, ch <-chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(testDeadline):
		t.Fatal("timed out waiting for the server")
		panic("unreachable")
	}
}
