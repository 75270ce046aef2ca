package websocket

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
)

// transports runs a subtest over plain TCP and over TLS.
func transports(t *testing.T, fn func(t *testing.T, useTLS bool)) {
	for _, useTLS := range []bool{false, true} {
		name := "plain"
		if useTLS {
			name = "tls"
		}
		t.Run(name, func(t *testing.T) { fn(t, useTLS) })
	}
}

func TestEchoSizes(t *testing.T) {
	sizes := []int{0, 125, 126, 65535, 65536, 1 << 20}
	transports(t, func(t *testing.T, useTLS bool) {
		srv := newServer(t, useTLS, EchoHandler("b1", nil))
		c := dialWS(t, srv, "/ws")
		readHello(t, c, "b1")
		for _, op := range []Opcode{OpText, OpBinary} {
			for _, size := range sizes {
				msg := bytes.Repeat([]byte("0123456789abcdef"), size/16+1)[:size]
				if op == OpBinary && size > 0 {
					msg[0], msg[size-1] = 0xff, 0x00
				}
				if err := c.WriteMessage(op, msg); err != nil {
					t.Fatalf("write %v %d: %v", op, size, err)
				}
				gotOp, got, err := c.ReadMessage()
				if err != nil {
					t.Fatalf("read %v %d: %v", op, size, err)
				}
				if gotOp != op || !bytes.Equal(got, msg) {
					t.Fatalf("echo of %v %d bytes = %v %d bytes (equal %v)", op, size, gotOp, len(got), bytes.Equal(got, msg))
				}
			}
		}
		if err := c.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		if code, _, ok := c.PeerClose(); !ok || code != CloseNormal {
			t.Fatalf("peer close = %d %v, want 1000", code, ok)
		}
	})
}

// TestFragmentedMessages writes raw client frames and checks the echo of the
// reassembled message (RFC 6455 section 5.4).
func TestFragmentedMessages(t *testing.T) {
	tests := []struct {
		name   string
		frames [][]byte
		wantOp Opcode
		want   string
	}{
		{"two text fragments", [][]byte{
			rawFrame(false, OpText, []byte("Hel"), true),
			rawFrame(true, OpContinuation, []byte("lo"), true),
		}, OpText, "Hello"},
		{"binary with ping in between", [][]byte{
			rawFrame(false, OpBinary, []byte{1, 2}, true),
			rawFrame(true, OpPing, []byte("p"), true),
			rawFrame(false, OpContinuation, []byte{3}, true),
			rawFrame(true, OpPong, []byte("unsolicited"), true),
			rawFrame(true, OpContinuation, []byte{4, 5}, true),
		}, OpBinary, "\x01\x02\x03\x04\x05"},
		{"empty fragments", [][]byte{
			rawFrame(false, OpText, nil, true),
			rawFrame(false, OpContinuation, nil, true),
			rawFrame(true, OpContinuation, []byte("x"), true),
		}, OpText, "x"},
		{"UTF-8 split across fragments", [][]byte{
			rawFrame(false, OpText, []byte("\xe2\x82"), true),
			rawFrame(true, OpContinuation, []byte("\xac"), true),
		}, OpText, "€"},
		{"large fragments", [][]byte{
			rawFrame(false, OpBinary, bytes.Repeat([]byte("a"), 70000), true),
			rawFrame(true, OpContinuation, bytes.Repeat([]byte("b"), 70000), true),
		}, OpBinary, strings.Repeat("a", 70000) + strings.Repeat("b", 70000)},
	}
	transports(t, func(t *testing.T, useTLS bool) {
		srv := newServer(t, useTLS, EchoHandler("frag", nil))
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				c := dialWS(t, srv, "/ws")
				readHello(t, c, "frag")
				if _, err := c.NetConn().Write(concat(tt.frames...)); err != nil {
					t.Fatal(err)
				}
				op, got, err := c.ReadMessage()
				if err != nil || op != tt.wantOp || string(got) != tt.want {
					t.Fatalf("echo = %v %d bytes, %v; want %v %d bytes", op, len(got), err, tt.wantOp, len(tt.want))
				}
			})
		}
	})
}

// TestProtocolErrors sends invalid frames to a server and checks the close
// code it fails the connection with, on both ends.
func TestProtocolErrors(t *testing.T) {
	tests := []struct {
		name string
		send []byte
		want uint16
	}{
		{"unmasked client frame", rawFrame(true, OpText, []byte("hi"), false), CloseProtocolError},
		{"rsv1 set", func() []byte { b := rawFrame(true, OpText, []byte("hi"), true); b[0] |= 0x40; return b }(), CloseProtocolError},
		{"reserved data opcode 3", rawFrame(true, 3, nil, true), CloseProtocolError},
		{"reserved control opcode 0xB", rawFrame(true, 0xB, nil, true), CloseProtocolError},
		{"fragmented ping", rawFrame(false, OpPing, nil, true), CloseProtocolError},
		{"ping over 125 bytes", rawFrame(true, OpPing, make([]byte, 126), true), CloseProtocolError},
		{"continuation without start", rawFrame(true, OpContinuation, []byte("x"), true), CloseProtocolError},
		{"text inside fragmented message", concat(
			rawFrame(false, OpText, []byte("a"), true),
			rawFrame(true, OpText, []byte("b"), true)), CloseProtocolError},
		{"64-bit length with high bit", []byte{0x82, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4}, CloseProtocolError},
		{"invalid UTF-8 text", rawFrame(true, OpText, []byte("ok\xff"), true), CloseInvalidPayload},
		{"truncated UTF-8 in fragments", concat(
			rawFrame(false, OpText, []byte("\xe2"), true),
			rawFrame(true, OpContinuation, []byte("\x82"), true)), CloseInvalidPayload},
		{"close with 1-byte body", rawFrame(true, OpClose, []byte{3}, true), CloseProtocolError},
		{"close with code 1005", rawFrame(true, OpClose, []byte{0x03, 0xed}, true), CloseProtocolError},
		{"close with code 999", rawFrame(true, OpClose, []byte{0x03, 0xe7}, true), CloseProtocolError},
		{"close with code 1004", rawFrame(true, OpClose, []byte{0x03, 0xec}, true), CloseProtocolError},
		{"close with code 1006", rawFrame(true, OpClose, []byte{0x03, 0xee}, true), CloseProtocolError},
		{"close with code 1015", rawFrame(true, OpClose, []byte{0x03, 0xf7}, true), CloseProtocolError},
		{"close with code 2000", rawFrame(true, OpClose, []byte{0x07, 0xd0}, true), CloseProtocolError},
		{"close with code 5000", rawFrame(true, OpClose, []byte{0x13, 0x88}, true), CloseProtocolError},
		{"close reason not UTF-8", rawFrame(true, OpClose, []byte("\x03\xe8\xc3\x28"), true), CloseInvalidPayload},
	}
	transports(t, func(t *testing.T, useTLS bool) {
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				serverErr := make(chan error, 1)
				srv, _ := serveConn(t, useTLS, func(c *Conn) {
					for {
						op, p, err := c.ReadMessage()
						if err != nil {
							serverErr <- err
							return
						}
						_ = c.WriteMessage(op, p)
					}
				})
				c := dialWS(t, srv, "/")
				if _, err := c.NetConn().Write(tt.send); err != nil {
					t.Fatal(err)
				}
				expectPeerClose(t, c, tt.want)
				var ce *CloseError
				if err := recv(t, serverErr); !errors.As(err, &ce) || ce.Code != tt.want {
					t.Fatalf("server ReadMessage error = %v, want close code %d", err, tt.want)
				}
				// Errors are sticky.
				if _, _, err := c.ReadMessage(); !errors.Is(err, io.EOF) {
					t.Fatalf("second ReadMessage = %v, want io.EOF", err)
				}
			})
		}
	})
}

// TestClientRejectsBadServerFrames covers the client-side checks: masked
// server frames and invalid UTF-8.
func TestClientRejectsBadServerFrames(t *testing.T) {
	tests := []struct {
		name string
		send []byte
		want uint16
	}{
		{"masked server frame", rawFrame(true, OpText, []byte("hi"), true), CloseProtocolError},
		{"invalid UTF-8", rawFrame(true, OpText, []byte{0xc0, 0xaf}, false), CloseInvalidPayload},
		{"reserved opcode", rawFrame(true, 0x7, nil, false), CloseProtocolError},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			peerCode := make(chan uint16, 1)
			srv, _ := serveConn(t, false, func(c *Conn) {
				_, _ = c.NetConn().Write(tt.send)
				_, _, err := c.ReadMessage()
				code, _, _ := c.PeerClose()
				if !errors.Is(err, io.EOF) {
					code = 0
				}
				peerCode <- code
			})
			c := dialWS(t, srv, "/")
			_, _, err := c.ReadMessage()
			var ce *CloseError
			if !errors.As(err, &ce) || ce.Code != tt.want {
				t.Fatalf("client ReadMessage error = %v, want close code %d", err, tt.want)
			}
			if got := recv(t, peerCode); got != tt.want {
				t.Fatalf("server saw close code %d, want %d", got, tt.want)
			}
		})
	}
}

func TestPingPong(t *testing.T) {
	transports(t, func(t *testing.T, useTLS bool) {
		// Client pings the echo server; the pong arrives before the echo of
		// a message written after the ping.
		srv := newServer(t, useTLS, EchoHandler("pp", nil))
		c := dialWS(t, srv, "/ws")
		var pongs []string
		c.SetPongHandler(func(p []byte) { pongs = append(pongs, string(p)) })
		readHello(t, c, "pp")
		if err := c.Ping([]byte("are you there")); err != nil {
			t.Fatal(err)
		}
		if err := c.WriteMessage(OpText, []byte("after ping")); err != nil {
			t.Fatal(err)
		}
		if _, p, err := c.ReadMessage(); err != nil || string(p) != "after ping" {
			t.Fatalf("ReadMessage = %q, %v", p, err)
		}
		if len(pongs) != 1 || pongs[0] != "are you there" {
			t.Fatalf("pongs = %q, want one with the ping's payload", pongs)
		}
		if err := c.Ping(make([]byte, 126)); err == nil {
			t.Fatal("Ping with 126 bytes succeeded")
		}

		// Server pings; the client's ReadMessage answers.
		serverPongs := make(chan string, 1)
		srv2, _ := serveConn(t, useTLS, func(s *Conn) {
			s.SetPongHandler(func(p []byte) { serverPongs <- string(p) })
			_ = s.Ping([]byte("server ping"))
			_ = s.WriteMessage(OpText, []byte("go"))
			_, _, _ = s.ReadMessage()
		})
		c2 := dialWS(t, srv2, "/")
		if _, p, err := c2.ReadMessage(); err != nil || string(p) != "go" {
			t.Fatalf("ReadMessage = %q, %v", p, err)
		}
		if got := recv(t, serverPongs); got != "server ping" {
			t.Fatalf("server got pong %q", got)
		}
	})
}

// TestCloseHandshake checks codes in both directions (RFC 6455 section 7).
func TestCloseHandshake(t *testing.T) {
	type result struct {
		err          error
		code         uint16
		reason       string
		peerCloseErr error
	}
	tests := []struct {
		name         string
		serverCloses bool // otherwise the client does
		code         uint16
		reason       string
	}{
		{"client 1000", false, CloseNormal, ""},
		{"client 1001 with reason", false, CloseGoingAway, "tab closed"},
		{"client 3000", false, 3000, ""},
		{"client 4999 with UTF-8 reason", false, 4999, "ünïcödé"},
		{"server 1000", true, CloseNormal, ""},
		{"server 1001 with reason", true, CloseGoingAway, "restarting"},
		{"server 1011", true, CloseInternalError, "oops"},
		{"server 4000 with max reason", true, 4000, strings.Repeat("r", maxCloseReason)},
	}
	transports(t, func(t *testing.T, useTLS bool) {
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				done := make(chan result, 1)
				srv, _ := serveConn(t, useTLS, func(s *Conn) {
					var r result
					if tt.serverCloses {
						r.err = s.CloseWithCode(tt.code, tt.reason)
					} else {
						_, _, r.err = s.ReadMessage()
					}
					r.code, r.reason, _ = s.PeerClose()
					r.peerCloseErr = s.WriteMessage(OpText, []byte("too late"))
					done <- r
				})
				c := dialWS(t, srv, "/")
				var err error
				if tt.serverCloses {
					_, _, err = c.ReadMessage()
					if !errors.Is(err, io.EOF) {
						t.Fatalf("client ReadMessage = %v, want io.EOF", err)
					}
				} else if err = c.CloseWithCode(tt.code, tt.reason); err != nil {
					t.Fatalf("client CloseWithCode: %v", err)
				}
				code, reason, ok := c.PeerClose()
				wantReason := tt.reason
				if !tt.serverCloses {
					wantReason = "" // the reply echoes the code only
				}
				if !ok || code != tt.code || reason != wantReason {
					t.Fatalf("client saw close %d %q (ok %v), want %d %q", code, reason, ok, tt.code, wantReason)
				}
				r := recv(t, done)
				wantErr := io.EOF
				if tt.serverCloses {
					wantErr = nil
				}
				if !errors.Is(r.err, wantErr) {
					t.Fatalf("server close/read error = %v, want %v", r.err, wantErr)
				}
				wantReason = ""
				if !tt.serverCloses {
					wantReason = tt.reason
				}
				if r.code != tt.code || r.reason != wantReason {
					t.Fatalf("server saw close %d %q, want %d %q", r.code, r.reason, tt.code, wantReason)
				}
				if !errors.Is(r.peerCloseErr, ErrCloseSent) {
					t.Fatalf("server write after close = %v, want ErrCloseSent", r.peerCloseErr)
				}
				if err := c.WriteMessage(OpText, []byte("x")); !errors.Is(err, ErrCloseSent) {
					t.Fatalf("client write after close = %v, want ErrCloseSent", err)
				}
				if err := c.Close(); err != nil {
					t.Fatalf("second Close = %v, want nil", err)
				}
			})
		}
	})
}

func TestCloseEmptyBody(t *testing.T) {
	got := make(chan uint16, 1)
	srv, _ := serveConn(t, false, func(s *Conn) {
		_, _, _ = s.ReadMessage()
		code, _, _ := s.PeerClose()
		got <- code
	})
	c := dialWS(t, srv, "/")
	if _, err := c.NetConn().Write(rawFrame(true, OpClose, nil, true)); err != nil {
		t.Fatal(err)
	}
	// RFC 6455 section 7.1.5: no status code means 1005; the reply is
	// empty as well.
	expectPeerClose(t, c, CloseNoStatus)
	if code := recv(t, got); code != CloseNoStatus {
		t.Fatalf("server saw %d, want %d", code, CloseNoStatus)
	}
}

func TestCloseWithCodeRejectsInvalid(t *testing.T) {
	tests := []struct {
		code   uint16
		reason string
	}{
		{CloseNoStatus, ""},
		{CloseAbnormal, ""},
		{CloseTLSHandshake, ""},
		{999, ""},
		{1004, ""},
		{5000, ""},
		{CloseNormal, strings.Repeat("x", maxCloseReason+1)},
		{CloseNormal, "\xff"},
	}
	srv := newServer(t, false, EchoHandler("inv", nil))
	c := dialWS(t, srv, "/ws")
	readHello(t, c, "inv")
	for _, tt := range tests {
		if err := c.CloseWithCode(tt.code, tt.reason); err == nil {
			t.Fatalf("CloseWithCode(%d, %d bytes) succeeded", tt.code, len(tt.reason))
		}
	}
	// Nothing was sent: the connection still echoes.
	if err := c.WriteMessage(OpText, []byte("still open")); err != nil {
		t.Fatal(err)
	}
	if _, p, err := c.ReadMessage(); err != nil || string(p) != "still open" {
		t.Fatalf("ReadMessage = %q, %v", p, err)
	}
}

// TestConcurrentClose closes while another goroutine is blocked reading: the
// reader consumes the peer's close reply and returns io.EOF.
func TestConcurrentClose(t *testing.T) {
	transports(t, func(t *testing.T, useTLS bool) {
		srv := newServer(t, useTLS, EchoHandler("cc", nil))
		c := dialWS(t, srv, "/ws")
		readHello(t, c, "cc")
		readErr := make(chan error, 1)
		go func() {
			for {
				if _, _, err := c.ReadMessage(); err != nil {
					readErr <- err
					return
				}
			}
		}()
		if err := c.WriteMessage(OpText, []byte("x")); err != nil {
			t.Fatal(err)
		}
		if err := c.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		if err := recv(t, readErr); !errors.Is(err, io.EOF) {
			t.Fatalf("reader error = %v, want io.EOF", err)
		}
		if code, _, ok := c.PeerClose(); !ok || code != CloseNormal {
			t.Fatalf("peer close = %d %v", code, ok)
		}
	})
}

// TestAbruptClose drops the TCP connection without a close frame: the
// server's ReadMessage reports io.ErrUnexpectedEOF (close code 1006).
func TestAbruptClose(t *testing.T) {
	serverErr := make(chan error, 1)
	srv, _ := serveConn(t, false, func(s *Conn) {
		_, _, err := s.ReadMessage()
		serverErr <- err
	})
	c := dialWS(t, srv, "/")
	c.NetConn().Close()
	if err := recv(t, serverErr); !errors.Is(err, io.ErrUnexpectedEOF) || !strings.Contains(err.Error(), "1006") {
		t.Fatalf("server ReadMessage = %v, want io.ErrUnexpectedEOF (1006)", err)
	}
}

func TestReadLimit(t *testing.T) {
	const limit = 1000
	tests := []struct {
		name   string
		frames [][]byte
		want   uint16 // 0: echoed
	}{
		{"at the limit", [][]byte{rawFrame(true, OpBinary, make([]byte, limit), true)}, 0},
		{"one byte over", [][]byte{rawFrame(true, OpBinary, make([]byte, limit+1), true)}, CloseMessageTooBig},
		{"fragments over", [][]byte{
			rawFrame(false, OpBinary, make([]byte, 600), true),
			rawFrame(true, OpContinuation, make([]byte, 600), true),
		}, CloseMessageTooBig},
		{"huge announced length", [][]byte{appendFrameHeader(nil, true, OpBinary, true, testKey, 1<<60)}, CloseMessageTooBig},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, _ := serveConn(t, false, func(s *Conn) {
				s.SetReadLimit(limit)
				for {
					op, p, err := s.ReadMessage()
					if err != nil {
						return
					}
					_ = s.WriteMessage(op, p)
				}
			})
			c := dialWS(t, srv, "/")
			if _, err := c.NetConn().Write(concat(tt.frames...)); err != nil {
				t.Fatal(err)
			}
			if tt.want == 0 {
				if _, p, err := c.ReadMessage(); err != nil || len(p) != limit {
					t.Fatalf("ReadMessage = %d bytes, %v", len(p), err)
				}
				return
			}
			expectPeerClose(t, c, tt.want)
		})
	}

	t.Run("default limit", func(t *testing.T) {
		srv := newServer(t, false, EchoHandler("big", nil))
		c := dialWS(t, srv, "/ws")
		readHello(t, c, "big")
		writeErr := make(chan error, 1)
		go func() { writeErr <- c.WriteMessage(OpBinary, make([]byte, DefaultReadLimit+1)) }()
		expectPeerClose(t, c, CloseMessageTooBig)
		<-writeErr // may fail once the server has closed; either way it returns
	})

	t.Run("client limit", func(t *testing.T) {
		peer := make(chan uint16, 1)
		srv, _ := serveConn(t, false, func(s *Conn) {
			_ = s.WriteMessage(OpText, []byte("more than ten bytes"))
			_, _, _ = s.ReadMessage()
			code, _, _ := s.PeerClose()
			peer <- code
		})
		c := dialWS(t, srv, "/")
		c.SetReadLimit(10)
		_, _, err := c.ReadMessage()
		var ce *CloseError
		if !errors.As(err, &ce) || ce.Code != CloseMessageTooBig {
			t.Fatalf("ReadMessage = %v, want close 1009", err)
		}
		if code := recv(t, peer); code != CloseMessageTooBig {
			t.Fatalf("server saw %d, want 1009", code)
		}
	})
}

func TestWriteMessageRejects(t *testing.T) {
	c := newConn(&fakeConn{r: strings.NewReader("")}, nil, true)
	tests := []struct {
		op Opcode
		p  []byte
	}{
		{OpText, []byte{0xff}},
		{OpClose, nil},
		{OpContinuation, nil},
		{3, nil},
		{OpPong, make([]byte, 126)},
	}
	for _, tt := range tests {
		if err := c.WriteMessage(tt.op, tt.p); err == nil {
			t.Errorf("WriteMessage(%v, %d bytes) succeeded", tt.op, len(tt.p))
		}
	}
}

// TestClientMasksWithFreshKeys checks client frames are masked (RFC 6455
// section 5.3) with a different key per frame, and that the caller's payload
// is left untouched.
func TestClientMasksWithFreshKeys(t *testing.T) {
	var out bytes.Buffer
	c := newConn(&fakeConn{r: strings.NewReader(""), w: &out}, nil, true)
	payload := bytes.Repeat([]byte("payload!"), 10000) // spans several write chunks
	orig := bytes.Clone(payload)
	keys := map[[4]byte]bool{}
	const frames = 40
	for range frames {
		out.Reset()
		if err := c.WriteMessage(OpBinary, payload); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(payload, orig) {
			t.Fatal("WriteMessage modified the caller's payload")
		}
		srv := newConn(&fakeConn{r: bytes.NewReader(out.Bytes())}, nil, false)
		srv.br = bufio.NewReader(srv.conn)
		h, err := readFrameHeader(srv.br)
		if err != nil || !h.masked {
			t.Fatalf("header %+v, %v: want masked", h, err)
		}
		keys[h.key] = true
		srv2 := newConn(&fakeConn{r: bytes.NewReader(out.Bytes())}, nil, false)
		srv2.br = bufio.NewReader(srv2.conn)
		if _, p, err := srv2.ReadMessage(); err != nil || !bytes.Equal(p, payload) {
			t.Fatalf("server read %d bytes, %v", len(p), err)
		}
	}
	if len(keys) < frames-1 { // a repeat among 40 random 32-bit keys is ~2e-7 likely
		t.Fatalf("only %d distinct masking keys in %d frames", len(keys), frames)
	}
}

func ExampleCloseError() {
	err := error(&CloseError{Code: CloseMessageTooBig, Reason: "message over 16 bytes"})
	fmt.Println(err)
	// Output: websocket: close 1009: message over 16 bytes
}
