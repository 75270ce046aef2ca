package listener

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tether-proxy/tether/internal/websocket"
)

// TestShutdownEndsWebSocketsPolitely: when the shutdown drain's deadline ends a WebSocket
// tunnel, the client (this project's RFC 6455 client, against its echo backend) gets a close
// frame 1001, the access log says `"close":"ws 1001"` beside `"reason":"drain"` and the polite
// ending is counted; with close_grace = "0s" the tunnel is cut as before (no close frame, no
// "close" in the log).
func TestShutdownEndsWebSocketsPolitely(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, grace string
		polite      bool
	}{
		{"default close_grace", "", true},
		{"close_grace 0s", `timeouts.close_grace = "0s"`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			hs := &http.Server{Handler: websocket.EchoHandler("ws-0", nil)}
			go hs.Serve(ln)
			t.Cleanup(func() { hs.Close() })
			p := startProxy(t, fmt.Sprintf(`
[[listeners]]
name = "ws"
listen = "127.0.0.1:0"
upstream = "app"
preamble = "websocket"
%s
[upstreams.app]
servers = [%q]
`, tt.grace, ln.Addr().String()))

			conn := dialFrom(t, "127.0.0.1", p.addr("ws"))
			conn.SetDeadline(time.Now().Add(10 * time.Second))
			ws, _, err := websocket.Client(conn, "ws://localhost/ws", nil)
			if err != nil {
				t.Fatalf("upgrade: %v", err)
			}
			if _, hello, err := ws.ReadMessage(); err != nil || !strings.HasPrefix(string(hello), "hello") {
				t.Fatalf("hello = %q, %v", hello, err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
			defer cancel()
			if err := p.srv.Shutdown(ctx); err == nil {
				t.Fatal("Shutdown returned nil although a tunnel outlived the deadline")
			}
			_, _, err = ws.ReadMessage()
			code, reason, ok := ws.PeerClose()
			if tt.polite {
				if err != io.EOF || !ok || code != 1001 {
					t.Fatalf("after the drain: %v, peer close %d %q %v; want io.EOF after a close frame 1001", err, code, reason, ok)
				}
				p.log.waitLog(t, `"reason":"drain"`, `"close":"ws 1001"`)
				var m bytes.Buffer
				p.srv.WriteMetrics(&m)
				if want := `tether_websocket_endings_total{listener="ws",ending="polite"} 1`; !strings.Contains(m.String(), want) {
					t.Errorf("metrics lack %s:\n%s", want, m.String())
				}
				return
			}
			if !errors.Is(err, io.ErrUnexpectedEOF) || ok {
				t.Fatalf("after the drain: %v, peer close %v; want a cut connection", err, ok)
			}
			p.log.waitLog(t, `"reason":"drain"`)
			if strings.Contains(p.log.String(), `"close":`) {
				t.Errorf("a cut tunnel logged a close:\n%s", p.log.String())
			}
		})
	}
}

// switchThenEcho answers a request head with 101 and echoes whatever follows.
func switchThenEcho(_ string, c net.Conn) {
	c.SetDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(c)
	for {
		line, err := br.ReadBytes('\n')
		if err != nil {
			return
		}
		if bytes.Equal(line, []byte("\r\n")) {
			break
		}
	}
	io.WriteString(c, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
	io.Copy(c, br)
}

// TestBadFramingIsForwardedThenCut: a client that sends an unmasked frame (RFC 6455 section
// 5.1 forbids it) still has it forwarded and echoed; tether stops following the tunnel, logs
// `"msg":"websocket framing not followed"` once, and when the drain ends the tunnel it closes
// TCP without a close frame, logged `"close":"cut"` and counted as a cut ending.
func TestBadFramingIsForwardedThenCut(t *testing.T) {
	t.Parallel()
	b := startBackend(t, "ws", "127.0.0.1:0", switchThenEcho)
	p := startProxy(t, fmt.Sprintf(`
[[listeners]]
name = "ws"
listen = "127.0.0.1:0"
upstream = "app"
preamble = "websocket"
[upstreams.app]
servers = [%q]
`, b.addr()))
	c := dialFrom(t, "127.0.0.1", p.addr("ws"))
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(c, "GET /ws HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
	br := bufio.NewReader(c)
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		if line == "\r\n" {
			break
		}
	}
	unmasked := []byte{0x81, 2, 'h', 'i'}
	c.Write(unmasked)
	got := make([]byte, len(unmasked))
	if _, err := io.ReadFull(br, got); err != nil || !bytes.Equal(got, unmasked) {
		t.Fatalf("echo of the unmasked frame: % x, %v", got, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	p.srv.Shutdown(ctx)
	if rest, _ := io.ReadAll(br); len(rest) > 0 {
		t.Errorf("after the drain the client got % x, want nothing (no close frame)", rest)
	}
	p.log.waitLog(t, `"msg":"websocket framing not followed"`, `unmasked frame from the client`, `"close":"cut"`)
	if n := strings.Count(p.log.String(), "websocket framing not followed"); n != 1 {
		t.Errorf("logged %d times", n)
	}
	var m bytes.Buffer
	p.srv.WriteMetrics(&m)
	if want := `tether_websocket_endings_total{listener="ws",ending="cut"} 1`; !strings.Contains(m.String(), want) {
		t.Errorf("metrics lack %s", want)
	}
}
