//go:build linux

package e2e

import (
	"crypto/tls"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// clientFaults are the faults of clients: vanishing, crawling, sending garbage, lying about
// who they are.
func clientFaults() []fault {
	out := []fault{
		{"client vanishes without FIN", "tunnel reaped by the idle timeout (1s); log reason idle timeout", faultClientVanishes},
		{"slowloris: TLS handshake 1 byte/s", "closed at the handshake timeout (2s); log reason tls handshake", faultSlowHandshake},
		{"slowloris: request head 1 byte/s", "408 at the preamble timeout (2s); log reason bad request head", faultSlowHead},
		{"PROXY header from untrusted peer", "closed without an answer; log reason proxy header", faultUntrustedProxy},
	}
	for _, h := range badHeads() {
		out = append(out, fault{h.name, fmt.Sprintf("%d; log reason bad request head", h.status), badHead(h.head, h.status, h.errSub)})
	}
	return out
}

// badHeadCase is a request head tether must refuse.
type badHeadCase struct {
	name, head string
	status     int
	errSub     string // in the log line's err
}

// badHeads are oversized and malformed request heads, sent to the listener with
// max_preamble = 1024 (preamble "http").
func badHeads() []badHeadCase {
	return []badHeadCase{
		{"oversized request head", "GET / HTTP/1.1\r\nHost: example.test\r\nX-Big: " + strings.Repeat("a", 2048) + "\r\n\r\n", 400, "too large"},
		{"malformed head: no colon", "GET / HTTP/1.1\r\nHost: example.test\r\nNoColonHere\r\n\r\n", 400, "colon"},
		{"malformed head: control character", "GET / HTTP/1.1\r\nHost: example.test\r\nX-A: b\x01c\r\n\r\n", 400, "control character"},
		{"malformed head: no Host", "GET / HTTP/1.1\r\nUser-Agent: x\r\n\r\n", 400, "Host"},
		{"malformed head: request line", "GET /a b HTTP/1.1\r\nHost: example.test\r\n\r\n", 400, ""},
		{"malformed head: TLS to a plain listener", string(clientHello()), 400, ""},
	}
}

func faultClientVanishes(t *testing.T, s *faultSetup) (string, logEntry) {
	probe := checkKeepalive(t, s)
	ws, _ := s.openWS(t, "idle", "127.0.0.1", "/ws")
	nc := ws.NetConn()
	client := nc.LocalAddr().String()
	echoOnce(t, ws, "before vanishing")
	// From now on the client sends nothing, not even a FIN: to tether it is gone.
	silent := time.Now()
	e := clientLog(t, s.tether.child, s.offset, client, "tunnel closed")
	reaped := time.Since(silent)
	if e.Reason != "idle timeout" {
		t.Errorf("tether logged %v, want reason idle timeout", e)
	}
	nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err := io.Copy(io.Discard, nc)
	if isTimeout(err) {
		t.Errorf("tether logged the tunnel closed but the client's connection is still open")
	}
	return fmt.Sprintf("reaped %v after the client fell silent; %s", reaped.Round(time.Millisecond), probe), e
}

// checkKeepalive checks that TCP keepalive, which finds a vanished peer when the idle timeout
// is longer (listener/listen.go: idle 60s, then 4 probes 15s apart), is armed on both of
// tether's sockets of a quiet tunnel (through the "keepalive" listener, idle 30s). The client's
// socket has it from accept on; the backend's once the tunnel is 10 s old on the event loop
// (splice's keepAliveAfter: short connections skip its system calls), at once on goroutines.
func checkKeepalive(t *testing.T, s *faultSetup) string {
	ws, hello := s.openWS(t, "keepalive", "127.0.0.1", "/ws")
	defer ws.NetConn().Close()
	echoOnce(t, ws, "then quiet")
	_, backendLeg, _ := strings.Cut(hello, "you are ") // the backend names tether's address
	legs := [][2]string{
		{fmt.Sprintf("127.0.0.1:%d", s.ports["keepalive"]), ws.NetConn().LocalAddr().String()},
		{backendLeg, s.live},
	}
	var in [2]time.Duration
	for i, leg := range legs {
		// Until the last bytes are acknowledged the retransmit timer (kind 1) is the pending one.
		var kind int
		var err error
		for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
			if kind, in[i], err = tcpTimer(leg[0], leg[1]); err != nil || kind == 2 {
				break
			}
		}
		if err != nil || kind != 2 || in[i] > 70*time.Second {
			t.Errorf("tether's socket %s -> %s: timer kind %d in %v (%v), want the keepalive (2) within 70s", leg[0], leg[1], kind, in[i], err)
		}
	}
	return fmt.Sprintf("keepalive armed on both legs of a quiet tunnel (first probe in %v, %v)", in[0].Round(time.Second), in[1].Round(time.Second))
}

func faultSlowHandshake(t *testing.T, s *faultSetup) (string, logEntry) {
	c := s.dial(t, "slow", "127.0.0.1")
	c.SetDeadline(time.Now().Add(15 * time.Second))
	hello := clientHello()
	sent, took := dribble(c, hello)
	if sent >= len(hello) {
		t.Fatalf("tether let the whole %d-byte ClientHello crawl in", len(hello))
	}
	e := clientLog(t, s.tether.child, s.offset, c.LocalAddr().String(), "connection rejected")
	if e.Reason != "tls handshake" {
		t.Errorf("tether logged %v, want reason tls handshake", e)
	}
	return fmt.Sprintf("closed after %d of %d ClientHello bytes, %v", sent, len(hello), took.Round(time.Millisecond)), e
}

func faultSlowHead(t *testing.T, s *faultSetup) (string, logEntry) {
	tc := s.dialTLS(t, "slow", "127.0.0.1")
	tc.SetDeadline(time.Now().Add(15 * time.Second))
	head := []byte("GET /ws HTTP/1.1\r\nHost: example.test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
	answer := make(chan string, 1)
	go func() {
		b, _ := io.ReadAll(tc)
		answer <- string(b)
	}()
	sent, took := dribbleUntil(tc, head, answer)
	got := <-answer
	if sent >= len(head) || !strings.HasPrefix(got, "HTTP/1.1 408 ") {
		t.Fatalf("after %d of %d head bytes: answer %q, want 408 before the head is complete", sent, len(head), got)
	}
	e := clientLog(t, s.tether.child, s.offset, tc.LocalAddr().String(), "connection rejected")
	if e.Reason != "bad request head" || e.Status != 408 {
		t.Errorf("tether logged %v, want reason bad request head, status 408", e)
	}
	return fmt.Sprintf("%s after %d of %d head bytes, %v", statusLine(got), sent, len(head), took.Round(time.Millisecond)), e
}

func faultUntrustedProxy(t *testing.T, s *faultSetup) (string, logEntry) {
	c := s.dial(t, "proxy", "127.0.0.1")
	answer, err := sendUntilClosed(t, c, "PROXY TCP4 192.0.2.1 192.0.2.2 40000 443\r\nGET /whoami HTTP/1.1\r\nHost: example.test\r\n\r\n")
	if answer != "" {
		t.Fatalf("answer %q, want the connection closed without one", answer)
	}
	closed := "FIN"
	if err != nil {
		closed = err.Error()
	}
	e := clientLog(t, s.tether.child, s.offset, c.LocalAddr().String(), "connection rejected")
	if e.Reason != "proxy header" || !strings.Contains(e.Err, "untrusted") {
		t.Errorf("tether logged %v, want reason proxy header, untrusted peer", e)
	}
	// The same peer without a header is served as itself: the refusal is the header's.
	plain := string(exchange(t, s.dial(t, "proxy", "127.0.0.1"), "GET /whoami HTTP/1.1\r\nHost: example.test\r\nConnection: close\r\n\r\n"))
	if !strings.HasPrefix(plain, "HTTP/1.1 200 ") || !strings.HasSuffix(plain, "live\n") {
		t.Fatalf("without the PROXY header: answer %q, want 200 from the live backend", plain)
	}
	return fmt.Sprintf("closed without an answer (%s); without the header the same peer gets 200", closed), e
}

// badHead returns the fault of a client sending head to the "heads" listener: tether answers
// status and logs why, with errSub in the error.
func badHead(head string, status int, errSub string) func(*testing.T, *faultSetup) (string, logEntry) {
	return func(t *testing.T, s *faultSetup) (string, logEntry) {
		c := s.dial(t, "heads", "127.0.0.1")
		answer := string(exchange(t, c, head))
		if want := fmt.Sprintf("HTTP/1.1 %d ", status); !strings.HasPrefix(answer, want) {
			t.Fatalf("answer %q, want %s", answer, want)
		}
		e := clientLog(t, s.tether.child, s.offset, c.LocalAddr().String(), "connection rejected")
		if e.Reason != "bad request head" || e.Status != status || !strings.Contains(e.Err, errSub) {
			t.Errorf("tether logged %v, want reason bad request head, status %d, %q", e, status, errSub)
		}
		return statusLine(answer), e
	}
}

// sendUntilClosed writes request to c and returns what it read until tether closed (bounded by
// c's deadline), and the read error that ended it: nil for a FIN, or e.g. a reset.
func sendUntilClosed(t testing.TB, c net.Conn, request string) (string, error) {
	t.Helper()
	if _, err := io.WriteString(c, request); err != nil {
		return "", err
	}
	b, err := io.ReadAll(c)
	if isTimeout(err) {
		t.Fatalf("no close within the deadline; read %q", b)
	}
	return string(b), err
}

// statusLine is the first line of an HTTP answer.
func statusLine(answer string) string {
	line, _, _ := strings.Cut(answer, "\r\n")
	return line
}

// dribble writes b to c one byte a second until a write fails or c is closed by the peer
// (seen by a concurrent read); it returns how many bytes were written and for how long.
func dribble(c net.Conn, b []byte) (int, time.Duration) {
	closed := make(chan string, 1)
	go func() {
		got, _ := io.ReadAll(c)
		closed <- string(got)
	}()
	n, took := dribbleUntil(c, b, closed)
	<-closed
	return n, took
}

// dribbleUntil writes b to w one byte a second until a write fails or done is ready.
func dribbleUntil(w io.Writer, b []byte, done chan string) (int, time.Duration) {
	start := time.Now()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for i := range b {
		if _, err := w.Write(b[i : i+1]); err != nil {
			return i, time.Since(start)
		}
		select {
		case got := <-done:
			done <- got // for the caller
			return i + 1, time.Since(start)
		case <-tick.C:
		}
	}
	return len(b), time.Since(start)
}

// clientHello returns the first flight of a crypto/tls client: one TLS record holding its
// ClientHello (RFC 8446 section 5.1: type 22, version, 16-bit length).
func clientHello() []byte {
	a, b := net.Pipe()
	defer a.Close()
	go tls.Client(b, &tls.Config{ServerName: "127.0.0.1", InsecureSkipVerify: true}).Handshake()
	defer b.Close()
	hdr := make([]byte, 5)
	if _, err := io.ReadFull(a, hdr); err != nil || hdr[0] != 22 {
		panic(fmt.Sprintf("ClientHello record header %x: %v", hdr, err))
	}
	rec := make([]byte, 5+int(binary.BigEndian.Uint16(hdr[3:])))
	copy(rec, hdr)
	if _, err := io.ReadFull(a, rec[5:]); err != nil {
		panic(fmt.Sprintf("ClientHello record: %v", err))
	}
	return rec
}
