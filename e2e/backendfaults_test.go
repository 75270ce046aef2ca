//go:build linux

package e2e

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tether-proxy/tether/internal/websocket"
)

// backendFaults are the faults of backends: dying, resetting, refusing, never answering.
func backendFaults() []fault {
	return []fault{
		{"backend killed mid-transfer", "client sees the close promptly; log reason backend error or backend closed", faultBackendKilled},
		{"backend closes mid-stream (FIN)", "every byte sent before the FIN arrives, then the close; log reason backend closed", faultBackendFIN},
		{"backend resets mid-tunnel (SO_LINGER 0)", "client sees the close promptly; log reason backend error", faultBackendRST},
		{"backend accepts, never answers", "tunnel reaped by the idle timeout (1s); log reason idle timeout", faultBackendSilent},
		{"backend refusing, 2 servers", "connect refused, the next peer serves; logged", failover("refuse-failover", (*faultSetup).refusingPeer, "connection refused")},
		{"backend refusing, 1 server (http)", "502; log reason no backend", badGateway("refuse-one", "connection refused")},
		{"blackhole backend, 2 servers", "connect timeout (300ms), the next peer serves; logged", failover("blackhole-failover", (*faultSetup).blackholePeer, "timeout")},
		{"blackhole backend, 1 server (http)", "connect timeout (300ms), 502; log reason no backend", badGateway("blackhole-one", "timeout")},
	}
}

func (s *faultSetup) refusingPeer() string  { return s.refusing }
func (s *faultSetup) blackholePeer() string { return s.blackhole }

func faultBackendKilled(t *testing.T, s *faultSetup) (string, logEntry) {
	ws, _ := s.openWS(t, "killed", "127.0.0.1", "/stream")
	nc := ws.NetConn()
	client := nc.LocalAddr().String()
	// Upload without pause; the backend echoes, so bytes stream both ways.
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		msg := make([]byte, 16<<10)
		for {
			select {
			case <-stop:
				return
			default:
			}
			if ws.WriteMessage(websocket.OpBinary, msg) != nil {
				return
			}
		}
	}()
	defer func() { close(stop); nc.Close(); <-done }()

	nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	received := 0
	for received < 256<<10 {
		_, p, err := ws.ReadMessage()
		if err != nil {
			t.Fatalf("echo before the kill: %v", err)
		}
		received += len(p)
	}
	killed := time.Now()
	s.killable.stop() // SIGKILL
	nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	err := readUntilError(ws, &received)
	took := time.Since(killed)
	if isTimeout(err) {
		t.Fatalf("the client's tunnel is still open 10s after its backend was killed")
	}
	nc.Close()
	e := clientLog(t, s.tether.child, s.offset, client, "tunnel closed")
	if e.Reason != "backend error" && e.Reason != "backend closed" {
		t.Errorf("tether logged %v, want reason backend error or backend closed", e)
	}
	return fmt.Sprintf("client saw the close %v after SIGKILL, %d KiB echoed (%v)", took.Round(time.Millisecond), received>>10, err), e
}

func faultBackendFIN(t *testing.T, s *faultSetup) (string, logEntry) {
	ws, _ := s.openWS(t, "flaky", "127.0.0.1", "/fin")
	nc := ws.NetConn()
	client := nc.LocalAddr().String()
	nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	for i := range streamMessages {
		op, p, err := ws.ReadMessage()
		if err != nil {
			t.Fatalf("message %d of %d: %v", i, streamMessages, err)
		}
		if op != websocket.OpBinary || !bytes.Equal(p, streamMessage(i)) {
			t.Fatalf("message %d differs from what the backend sent (%s, %d bytes)", i, op, len(p))
		}
	}
	extra := 0
	err := readUntilError(ws, &extra)
	if isTimeout(err) || extra != 0 {
		t.Fatalf("after the backend's FIN: %d more bytes, %v; want the close", extra, err)
	}
	nc.Close() // a client closes its side on EOF: the tunnel then ends cleanly
	e := clientLog(t, s.tether.child, s.offset, client, "tunnel closed")
	if e.Reason != "backend closed" {
		t.Errorf("tether logged %v, want reason backend closed", e)
	}
	return fmt.Sprintf("all %d KiB arrived intact, then the close (%v)", streamMessages*streamMessageSize>>10, err), e
}

func faultBackendRST(t *testing.T, s *faultSetup) (string, logEntry) {
	ws, _ := s.openWS(t, "flaky", "127.0.0.1", "/rst")
	nc := ws.NetConn()
	client := nc.LocalAddr().String()
	nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	var err error
	n := 0
	for ; ; n++ {
		var op websocket.Opcode
		var p []byte
		if op, p, err = ws.ReadMessage(); err != nil {
			break
		}
		if n >= streamMessages || op != websocket.OpBinary || !bytes.Equal(p, streamMessage(n)) {
			t.Fatalf("message %d differs from what the backend sent (%s, %d bytes)", n, op, len(p))
		}
	}
	if isTimeout(err) {
		t.Fatalf("the client's tunnel is still open 10s after its backend reset it")
	}
	nc.Close()
	e := clientLog(t, s.tether.child, s.offset, client, "tunnel closed")
	if e.Reason != "backend error" || !strings.Contains(e.Err, "reset") {
		t.Errorf("tether logged %v, want reason backend error, connection reset", e)
	}
	return fmt.Sprintf("%d of %d messages intact, then the close (%v)", n, streamMessages, err), e
}

func faultBackendSilent(t *testing.T, s *faultSetup) (string, logEntry) {
	tc := s.dialTLS(t, "flaky", "127.0.0.1")
	client := tc.LocalAddr().String()
	start := time.Now()
	_, _, err := websocket.Client(tc, fmt.Sprintf("wss://127.0.0.1:%d/silent", s.ports["flaky"]), nil)
	took := time.Since(start)
	if err == nil || isTimeout(err) {
		t.Fatalf("WebSocket handshake with a backend that never answers: %v; want tether to close the tunnel", err)
	}
	tc.Close()
	e := clientLog(t, s.tether.child, s.offset, client, "tunnel closed")
	if e.Reason != "idle timeout" {
		t.Errorf("tether logged %v, want reason idle timeout", e)
	}
	return fmt.Sprintf("no answer; client saw the close after %v (%v)", took.Round(time.Millisecond), err), e
}

// failover returns the fault of a listener whose upstream has a bad peer and a live one: a
// client whose address hashes to the bad peer first must be served by the live one, and
// tether must log the failed connect with errSub in its error.
func failover(listener string, bad func(*faultSetup) string, errSub string) func(*testing.T, *faultSetup) (string, logEntry) {
	return func(t *testing.T, s *faultSetup) (string, logEntry) {
		src := s.firstPickOf(t, listener, bad(s))
		start := time.Now()
		ws, hello := s.openWS(t, listener, src, "/ws")
		took := time.Since(start)
		defer ws.NetConn().Close()
		if !strings.HasPrefix(hello, "hello from live") {
			t.Fatalf("client %s got %q, want the live backend's hello", src, hello)
		}
		echoOnce(t, ws, "after failover")
		e := clientLog(t, s.tether.child, s.offset, ws.NetConn().LocalAddr().String(), "backend connect failed")
		if !strings.Contains(e.Err, errSub) {
			t.Errorf("tether logged %v, want an error with %q", e, errSub)
		}
		return fmt.Sprintf("client %s (hashed to the bad peer) served by the live one after %v", src, took.Round(time.Millisecond)), e
	}
}

// firstPickOf returns a loopback client address whose connections to listener go to peer
// first, as `tether lookup` says.
func (s *faultSetup) firstPickOf(t testing.TB, listener, peer string) string {
	t.Helper()
	var addrs []string
	for i := 2; i < 66; i++ {
		addrs = append(addrs, fmt.Sprintf("127.0.0.%d", i))
	}
	picks := lookup(t, s.tether.config, listener, addrs)
	for _, a := range addrs {
		if picks[a] == peer {
			return a
		}
	}
	t.Fatalf("none of %d client addresses hashes to %s first: %v", len(addrs), peer, picks)
	return ""
}

// badGateway returns the fault of a plain http listener whose only server cannot be
// connected: the client gets 502 and tether logs the refusal with errSub in its error.
func badGateway(listener, errSub string) func(*testing.T, *faultSetup) (string, logEntry) {
	return func(t *testing.T, s *faultSetup) (string, logEntry) {
		c := s.dial(t, listener, "127.0.0.1")
		start := time.Now()
		answer := string(exchange(t, c, "GET /whoami HTTP/1.1\r\nHost: example.test\r\n\r\n"))
		took := time.Since(start)
		if !strings.HasPrefix(answer, "HTTP/1.1 502 ") {
			t.Fatalf("answer %q, want 502", answer)
		}
		e := clientLog(t, s.tether.child, s.offset, c.LocalAddr().String(), "connection rejected")
		if e.Reason != "no backend" || !strings.Contains(e.Err, errSub) {
			t.Errorf("tether logged %v, want reason no backend with %q", e, errSub)
		}
		return fmt.Sprintf("%s after %v", statusLine(answer), took.Round(time.Millisecond)), e
	}
}

// readUntilError reads messages until an error, adding their sizes to n.
func readUntilError(ws *websocket.Conn, n *int) error {
	for {
		_, p, err := ws.ReadMessage()
		if err != nil {
			return err
		}
		*n += len(p)
	}
}
