package bench

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/tether-proxy/tether/preamble"
)

// crlf joins head lines with CRLF and ends the head with an empty line.
func crlf(lines ...string) []byte {
	return []byte(strings.Join(lines, "\r\n") + "\r\n\r\n")
}

// Request heads as Chrome 131 sends them to a Socket.io 4 server.
var (
	// chromeUpgrade is the WebSocket upgrade (transport=websocket after the handshake).
	chromeUpgrade = crlf(
		"GET /socket.io/?EIO=4&transport=websocket&sid=Gb2ZC7v2c8cQb1xTAAAB HTTP/1.1",
		"Host: chat.example.com",
		"Connection: Upgrade",
		"Pragma: no-cache",
		"Cache-Control: no-cache",
		"User-Agent: Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
		"Upgrade: websocket",
		"Origin: https://chat.example.com",
		"Sec-WebSocket-Version: 13",
		"Accept-Encoding: gzip, deflate, br, zstd",
		"Accept-Language: en-US,en;q=0.9,de;q=0.8",
		"Cookie: io=Gb2ZC7v2c8cQb1xTAAAB; session=eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTYifQ.c2lnbmF0dXJl",
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
		"Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits",
	)
	// socketIOPolling is an Engine.IO long-polling GET, before or instead of the upgrade.
	socketIOPolling = crlf(
		"GET /socket.io/?EIO=4&transport=polling&t=PHx1k2a&sid=Gb2ZC7v2c8cQb1xTAAAB HTTP/1.1",
		"Host: chat.example.com",
		"Connection: keep-alive",
		`sec-ch-ua-platform: "Windows"`,
		"User-Agent: Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
		"Accept: */*",
		`sec-ch-ua: "Google Chrome";v="131", "Chromium";v="131", "Not_A Brand";v="24"`,
		"sec-ch-ua-mobile: ?0",
		"Sec-Fetch-Site: same-origin",
		"Sec-Fetch-Mode: cors",
		"Sec-Fetch-Dest: empty",
		"Referer: https://chat.example.com/",
		"Accept-Encoding: gzip, deflate, br, zstd",
		"Accept-Language: en-US,en;q=0.9,de;q=0.8",
		"Cookie: io=Gb2ZC7v2c8cQb1xTAAAB; session=eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTYifQ.c2lnbmF0dXJl",
	)
)

var heads = []struct {
	name string
	head []byte
	mode preamble.Mode // the strictest listener mode that accepts it
}{
	{"chrome-websocket", chromeUpgrade, preamble.ModeWebSocket},
	{"socketio-polling", socketIOPolling, preamble.ModeHTTP},
}

// BenchmarkPreamble reads one request head the way the listener does: preamble.Read from the
// connection into the listener's buffer, parse, and the listener mode's check.
func BenchmarkPreamble(b *testing.B) {
	for _, h := range heads {
		b.Run(h.name, func(b *testing.B) {
			buf := make([]byte, 32<<10) // the default max_preamble
			var head preamble.Head
			var r bytes.Reader
			b.SetBytes(int64(len(h.head)))
			b.ReportAllocs()
			for b.Loop() {
				r.Reset(h.head)
				if _, err := preamble.Read(&r, buf, &head, h.mode); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestPreambleHeads: the benchmark's heads are accepted whole in their mode, read without
// allocating; the polling GET is refused by a websocket-only listener.
func TestPreambleHeads(t *testing.T) {
	buf := make([]byte, 32<<10)
	for _, h := range heads {
		t.Run(h.name, func(t *testing.T) {
			var head preamble.Head
			n, err := preamble.Read(bytes.NewReader(h.head), buf, &head, h.mode)
			if err != nil || n != len(h.head) || head.Len() != len(h.head) {
				t.Fatalf("Read = %d, %v (head %d bytes); want the whole %d-byte head", n, err, head.Len(), len(h.head))
			}
			if got := string(head.Header("Host")); got != "chat.example.com" {
				t.Errorf("Host = %q", got)
			}
			var r bytes.Reader
			allocs := testing.AllocsPerRun(100, func() {
				r.Reset(h.head)
				_, _ = preamble.Read(&r, buf, &head, h.mode)
			})
			if allocs != 0 {
				t.Errorf("%.1f allocations per head, want 0", allocs)
			}
		})
	}
	var head preamble.Head
	_, err := preamble.Read(bytes.NewReader(socketIOPolling), buf, &head, preamble.ModeWebSocket)
	if rej := (*preamble.Reject)(nil); !errors.As(err, &rej) {
		t.Errorf("polling GET on a websocket listener: %v, want a *preamble.Reject", err)
	}
}
