package e2e

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/tether-proxy/tether/internal/websocket"
)

// corsAPI is the backend of the browser test's second origin: a JSON endpoint answering
// cross-origin requests from one allowed origin under the CORS rules of the Fetch standard
// (https://fetch.spec.whatwg.org/#http-cors-protocol), and a WebSocket echo that, like real
// servers, accepts only that origin (RFC 6455 section 10.2). It records the requests it sees.
type corsAPI struct {
	mu          sync.Mutex
	allowOrigin string
	seen        []apiRequest
}

// allow sets the one origin the API answers.
func (a *corsAPI) allow(origin string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.allowOrigin = origin
}

// apiRequest is one request as the API saw it.
type apiRequest struct {
	Method, Path, Origin string
	RequestMethod        string // Access-Control-Request-Method of a preflight
	RequestHeaders       string // Access-Control-Request-Headers of a preflight
	Upgrade              bool
}

// corsHeaders are the CORS headers of the API's answers to allowOrigin, in the order sent.
func corsHeaders(allowOrigin string, preflight bool) [][2]string {
	h := [][2]string{
		{"Access-Control-Allow-Origin", allowOrigin},
		{"Access-Control-Allow-Credentials", "true"},
		{"Vary", "Origin"},
	}
	if preflight {
		return append(h,
			[2]string{"Access-Control-Allow-Methods", "GET, PUT"},
			[2]string{"Access-Control-Allow-Headers", "Content-Type, X-Tether-Test"},
			[2]string{"Access-Control-Max-Age", "600"})
	}
	return append(h, [2]string{"Access-Control-Expose-Headers", "X-Backend"})
}

func (a *corsAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	req := apiRequest{
		Method: r.Method, Path: r.URL.Path, Origin: r.Header.Get("Origin"),
		RequestMethod:  r.Header.Get("Access-Control-Request-Method"),
		RequestHeaders: r.Header.Get("Access-Control-Request-Headers"),
		Upgrade:        websocket.IsUpgradeRequest(r),
	}
	a.mu.Lock()
	a.seen = append(a.seen, req)
	allowOrigin := a.allowOrigin
	a.mu.Unlock()
	w.Header()["Date"] = nil // byte-for-byte comparable answers

	switch {
	case r.URL.Path == "/ws":
		serveEcho(w, r, allowOrigin)
	case r.URL.Path == "/nocors":
		writeJSON(w, map[string]string{"secret": "no CORS headers on this one"})
	case r.URL.Path != "/info":
		http.NotFound(w, r)
	case req.Origin != allowOrigin:
		http.Error(w, "origin not allowed", http.StatusForbidden)
	case r.Method == http.MethodOptions && req.RequestMethod != "":
		for _, kv := range corsHeaders(allowOrigin, true) {
			w.Header().Set(kv[0], kv[1])
		}
		w.WriteHeader(http.StatusNoContent)
	case r.Method == http.MethodGet || r.Method == http.MethodPut:
		for _, kv := range corsHeaders(allowOrigin, false) {
			w.Header().Set(kv[0], kv[1])
		}
		w.Header().Set("X-Backend", "api")
		body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<16))
		writeJSON(w, map[string]string{
			"method": r.Method, "origin": req.Origin, "testHeader": r.Header.Get("X-Tether-Test"), "body": string(body),
		})
	default:
		w.Header().Set("Allow", "GET, PUT, OPTIONS")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
	}
}

// serveEcho upgrades a request from allowOrigin and echoes every message back.
func serveEcho(w http.ResponseWriter, r *http.Request, allowOrigin string) {
	if r.Header.Get("Origin") != allowOrigin {
		http.Error(w, "origin not allowed", http.StatusForbidden)
		return
	}
	ws, err := websocket.Upgrade(w, r)
	if err != nil {
		return // Upgrade answered the client already
	}
	defer ws.Close()
	for {
		op, msg, err := ws.ReadMessage()
		if err != nil {
			return
		}
		if err := ws.WriteMessage(op, msg); err != nil {
			return
		}
	}
}

// requests returns the requests seen so far.
func (a *corsAPI) requests() []apiRequest {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.seen)
}

// writeJSON answers v as JSON.
func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

// serveHTTP serves h on a free loopback port until the test ends and returns the address.
func serveHTTP(t testing.TB, h http.Handler) string {
	t.Helper()
	ln := listenLoopback(t)
	srv := &http.Server{Handler: h}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(ln)
	}()
	t.Cleanup(func() {
		srv.Close()
		<-done
	})
	return ln.Addr().String()
}

// checkCORSPassThrough sends the same raw requests to the API directly and through tether and
// checks the answers are byte-for-byte equal and carry the API's CORS headers as sent: tether
// forwards bytes and never rewrites a header.
func checkCORSPassThrough(t *testing.T, s *browserSetup) {
	t.Helper()
	pem, err := os.ReadFile(filepath.Join(s.dir, "cert.pem"))
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(pem)
	head := "Host: " + s.apiHost + "\r\nOrigin: " + s.page + "\r\nConnection: close\r\n"
	tests := []struct {
		name, request string
		preflight     bool
	}{
		{"preflight", "OPTIONS /info HTTP/1.1\r\n" + head +
			"Access-Control-Request-Method: PUT\r\nAccess-Control-Request-Headers: content-type,x-tether-test\r\n\r\n", true},
		{"GET", "GET /info HTTP/1.1\r\n" + head + "\r\n", false},
		{"PUT", "PUT /info HTTP/1.1\r\n" + head +
			"Content-Type: application/json\r\nX-Tether-Test: 42\r\nContent-Length: 18\r\n\r\n{\"hello\":\"tether\"}", false},
	}
	for _, tc := range tests {
		t.Run("pass-through "+tc.name, func(t *testing.T) {
			direct, err := net.DialTimeout("tcp", s.apiAddr, 5*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			via, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", s.apiVia,
				&tls.Config{ServerName: "localhost", RootCAs: roots})
			if err != nil {
				t.Fatal(err)
			}
			want, got := exchange(t, direct, tc.request), exchange(t, via, tc.request)
			if !bytes.Equal(got, want) {
				t.Errorf("through tether:\n%s\ndirectly:\n%s", got, want)
			}
			for _, kv := range corsHeaders(s.page, tc.preflight) {
				if line := kv[0] + ": " + kv[1] + "\r\n"; !bytes.Contains(got, []byte(line)) {
					t.Errorf("answer through tether lacks %q:\n%s", line, got)
				}
			}
		})
	}
}

// exchange writes request on conn, reads the answer until the server closes, and closes conn.
func exchange(t *testing.T, conn net.Conn, request string) []byte {
	t.Helper()
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(conn, request); err != nil {
		t.Fatal(err)
	}
	answer, err := io.ReadAll(conn)
	if err != nil {
		t.Fatalf("reading the answer from %s: %v", conn.RemoteAddr(), err)
	}
	return answer
}
