package websocket

import (
	"bytes"
	"io"
	"log/slog"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestEchoHandlerHTTP(t *testing.T) {
	h := EchoHandler(`b<1>`, nil)
	tests := []struct {
		name, method, path string
		wantStatus         int
		wantType           string
		wantBody           []string // substrings
	}{
		{"whoami", "GET", "/whoami", 200, "text/plain; charset=utf-8", []string{"b<1>\n"}},
		{"page", "GET", "/", 200, "text/html; charset=utf-8", []string{
			"b&lt;1&gt;",         // the name, HTML-escaped
			`location.protocol`,  // ws: or wss: by the page's scheme
			`"wss:" : "ws:"`,     //
			`"/ws"`,              // same origin, path /ws
			"setInterval",        // a message every second
			"new WebSocket(url)", //
		}},
		{"head page", "HEAD", "/", 200, "text/html; charset=utf-8", nil},
		{"ws without upgrade", "GET", "/ws", http.StatusUpgradeRequired, "", []string{"upgrade"}},
		{"post page", "POST", "/", http.StatusMethodNotAllowed, "", nil},
		{"unknown path", "GET", "/nope", http.StatusNotFound, "", nil},
	}
	srv := newServer(t, false, h)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(tt.method, srv.URL+tt.path, nil)
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.wantStatus)
			}
			if tt.wantType != "" && resp.Header.Get("Content-Type") != tt.wantType {
				t.Fatalf("Content-Type %q, want %q", resp.Header.Get("Content-Type"), tt.wantType)
			}
			for _, want := range tt.wantBody {
				if !strings.Contains(string(body), want) {
					t.Fatalf("body lacks %q:\n%s", want, body)
				}
			}
		})
	}
	t.Run("page is self-contained", func(t *testing.T) {
		resp, err := srv.Client().Get(srv.URL + "/")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		for _, external := range []string{"http://", "https://", "src=", "href=", "@import"} {
			if bytes.Contains(body, []byte(external)) {
				t.Errorf("page references an external asset (%q)", external)
			}
		}
	})
}

// TestEchoHandlerHello dials from distinct loopback source addresses and
// checks the greeting names the backend and the client's address.
func TestEchoHandlerHello(t *testing.T) {
	var logs bytes.Buffer
	var mu sync.Mutex
	logger := slog.New(slog.NewTextHandler(lockedWriter{&mu, &logs}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	transports(t, func(t *testing.T, useTLS bool) {
		srv := newServer(t, useTLS, EchoHandler("backend-7", logger))
		for _, ip := range []string{"127.0.0.1", "127.0.0.2", "127.1.2.3"} {
			conn := dialRaw(t, srv, ip)
			c, _, err := Client(conn, wsURL(srv, "/ws"), nil)
			if err != nil {
				t.Fatalf("Client from %s: %v", ip, err)
			}
			got := readHello(t, c, "backend-7")
			if want := "hello from backend-7, you are " + conn.LocalAddr().String(); got != want {
				t.Fatalf("hello = %q, want %q", got, want)
			}
			if err := c.Close(); err != nil {
				t.Fatal(err)
			}
		}
	})
	// The handler logs asynchronously after the close handshake.
	deadline := time.Now().Add(testDeadline)
	for {
		mu.Lock()
		out := logs.String()
		mu.Unlock()
		if strings.Count(out, "websocket closed") == 6 {
			if !strings.Contains(out, "backend=backend-7") || !strings.Contains(out, "code=1000") {
				t.Fatalf("logs lack backend name or close code:\n%s", out)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("want 6 'websocket closed' log lines:\n%s", out)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// lockedWriter serialises writes to w.
type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// TestNoGoroutineLeak opens and closes many connections in various ways and
// checks that the goroutine count returns to its baseline.
func TestNoGoroutineLeak(t *testing.T) {
	srv := newServer(t, false, EchoHandler("leak", nil))
	tlsSrv := newServer(t, true, EchoHandler("leak", nil))
	// Warm up: pools and lazily started goroutines settle first.
	c := dialWS(t, srv, "/ws")
	readHello(t, c, "leak")
	c.Close()
	time.Sleep(50 * time.Millisecond)
	baseline := runtime.NumGoroutine()

	const conns = 150
	for i := range conns {
		s := srv
		if i%5 == 0 {
			s = tlsSrv
		}
		conn := dialRaw(t, s, "")
		c, _, err := Client(conn, wsURL(s, "/ws"), nil)
		if err != nil {
			t.Fatalf("connection %d: %v", i, err)
		}
		readHello(t, c, "leak")
		if err := c.WriteMessage(OpText, []byte("ping")); err != nil {
			t.Fatal(err)
		}
		if _, _, err := c.ReadMessage(); err != nil {
			t.Fatal(err)
		}
		switch i % 3 {
		case 0:
			c.Close() // closing handshake
		case 1:
			conn.Close() // abrupt: no close frame
		case 2:
			// Protocol error: the server fails the connection.
			_, _ = conn.Write(rawFrame(true, OpText, []byte("x"), false))
			expectPeerClose(t, c, CloseProtocolError)
		}
	}
	deadline := time.Now().Add(testDeadline)
	for runtime.NumGoroutine() > baseline {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("%d goroutines, baseline %d:\n%s", runtime.NumGoroutine(), baseline, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(20 * time.Millisecond)
	}
}
