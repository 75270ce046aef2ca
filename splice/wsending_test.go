package splice

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// wsKind is a variant the polite-ending tests run over: every kind of the driven tunnel, and
// the stream tunnel, plain (as off Linux) and with a *tls.Conn made by tls.Server.
type wsKind struct {
	kind
	stream, foreign bool
}

var wsKinds = func() []wsKind {
	var ks []wsKind
	for _, k := range kinds {
		ks = append(ks, wsKind{kind: k})
	}
	return append(ks,
		wsKind{kind: kind{"stream/plain", false, EngineConfig{}}, stream: true},
		wsKind{kind: kind{"stream/tls", true, EngineConfig{}}, stream: true, foreign: true})
}()

// rig returns the variant's rig.
func (k wsKind) rig(t *testing.T) *rig { return newRigWith(t, k.tls, k.foreign) }

// forward runs the variant's tunnel in the background.
func (k wsKind) forward(ctx context.Context, e *Engine, r *rig, opt Options) <-chan Result {
	if !k.stream {
		return r.forward(ctx, e, opt)
	}
	ch := make(chan Result, 1)
	go func() { ch <- e.forwardStream(ctx, r.client, r.backend, opt) }()
	return ch
}

const upgradeHead = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"

// wsFrame builds a frame; masked frames get a fixed key and masked payload.
func wsFrame(fin bool, op byte, masked bool, payload []byte) []byte {
	b0 := op
	if fin {
		b0 |= 0x80
	}
	var mb byte
	if masked {
		mb = 0x80
	}
	var out []byte
	switch n := len(payload); {
	case n < 126:
		out = []byte{b0, mb | byte(n)}
	case n <= 0xFFFF:
		out = binary.BigEndian.AppendUint16([]byte{b0, mb | 126}, uint16(n))
	default:
		out = binary.BigEndian.AppendUint64([]byte{b0, mb | 127}, uint64(n))
	}
	p := bytes.Clone(payload)
	if masked {
		key := [4]byte{7, 1, 9, 3}
		out = append(out, key[:]...)
		for i := range p {
			p[i] ^= key[i&3]
		}
	}
	return append(out, p...)
}

// gotFrame is a frame a test peer read.
type gotFrame struct {
	fin, masked bool
	op          byte
	payload     []byte // unmasked
}

// readFrames reads frames from br until a close frame (included) or the end
// of the stream; err is nil only when a close frame ended the list.
func readFrames(br *bufio.Reader) ([]gotFrame, error) {
	var out []gotFrame
	for {
		var h [2]byte
		if _, err := io.ReadFull(br, h[:]); err != nil {
			return out, err
		}
		f := gotFrame{fin: h[0]&0x80 != 0, op: h[0] & 0xF, masked: h[1]&0x80 != 0}
		n := uint64(h[1] & 0x7F)
		switch n {
		case 126:
			var b [2]byte
			if _, err := io.ReadFull(br, b[:]); err != nil {
				return out, err
			}
			n = uint64(binary.BigEndian.Uint16(b[:]))
		case 127:
			var b [8]byte
			if _, err := io.ReadFull(br, b[:]); err != nil {
				return out, err
			}
			n = binary.BigEndian.Uint64(b[:])
		}
		var key [4]byte
		if f.masked {
			if _, err := io.ReadFull(br, key[:]); err != nil {
				return out, err
			}
		}
		f.payload = make([]byte, n)
		if _, err := io.ReadFull(br, f.payload); err != nil {
			return out, err
		}
		if f.masked {
			for i := range f.payload {
				f.payload[i] ^= key[i&3]
			}
		}
		out = append(out, f)
		if f.op == 0x8 {
			return out, nil
		}
	}
}

// closeCode is a close frame's code and reason.
func closeCode(f gotFrame) (uint16, string) {
	if f.op != 0x8 || len(f.payload) < 2 {
		return 0, ""
	}
	return binary.BigEndian.Uint16(f.payload), string(f.payload[2:])
}

// peerResult is what one peer saw of a polite ending.
type peerResult struct {
	frames []gotFrame
	err    error
}

// closePeer reads frames up to the proxy's close frame, then sends a data
// frame (which must go nowhere) and a close frame in reply (masked when
// mask), and reads on to EOF.
func closePeer(c net.Conn, br *bufio.Reader, mask bool, out chan<- peerResult) {
	frames, err := readFrames(br)
	if err == nil {
		_, err = c.Write(append(wsFrame(true, 0x1, mask, []byte("dropped")), wsFrame(true, 0x8, mask, []byte{0x03, 0xE9})...))
		if err == nil {
			var rest []byte
			rest, _ = io.ReadAll(br)
			if len(rest) > 0 {
				err = fmt.Errorf("%d bytes after the close frame", len(rest))
			}
		}
	}
	out <- peerResult{frames, err}
}

// TestPoliteEndingDrain: a drain (ctx cancelled) in the middle of a 200 KB
// message from the backend and of a fragmented message from the client lets
// both messages complete, sends the client an unmasked close 1001 and the
// backend a masked one, forwards nothing after them, waits for the replies
// and reports EndingPolite, on every engine and client leg.
func TestPoliteEndingDrain(t *testing.T) {
	big := bytes.Repeat([]byte("0123456789abcdef"), 200<<10/16)
	for _, k := range wsKinds {
		t.Run(k.name, func(t *testing.T) {
			e := NewEngine(k.cfg)
			defer e.Close()
			r := k.rig(t)
			ctx, cancel := context.WithCancelCause(context.Background())
			done := k.forward(ctx, e, r, Options{WebSocket: true, CloseGrace: hangLimit, CloseWait: hangLimit})

			msg := wsFrame(true, 0x2, false, big)
			down := append([]byte(upgradeHead), wsFrame(true, 0x2, false, []byte("first"))...)
			down = append(down, msg[:100<<10]...)
			up := append(wsFrame(true, 0x1, true, []byte("hello")), wsFrame(false, 0x1, true, []byte("part one "))...)
			go r.backendPeer.Write(down)
			go r.clientPeer.Write(up)
			// Both peers have what was sent so far: both directions are inside a message.
			cbr, bbr := bufio.NewReader(r.clientPeer), bufio.NewReader(r.backendPeer)
			if got := readN(t, cbr, len(down)); !bytes.Equal(got, down) {
				t.Fatal("the client got other bytes than the backend sent")
			}
			if got := readN(t, bbr, len(up)); !bytes.Equal(got, up) {
				t.Fatal("the backend got other bytes than the client sent")
			}
			drained := errors.New("drain")
			cancel(drained)
			go r.backendPeer.Write(msg[100<<10:])
			go r.clientPeer.Write(wsFrame(true, 0x0, true, []byte("part two")))

			cres, bres := make(chan peerResult, 1), make(chan peerResult, 1)
			go func() {
				rest := make([]byte, len(msg)-100<<10)
				if _, err := io.ReadFull(cbr, rest); err != nil || !bytes.Equal(rest, msg[100<<10:]) {
					cres <- peerResult{err: fmt.Errorf("the rest of the message: %v", err)}
					return
				}
				closePeer(r.clientPeer, cbr, true, cres)
			}()
			go closePeer(r.backendPeer, bbr, false, bres)
			c, b := <-cres, <-bres
			if c.err != nil || len(c.frames) != 1 || c.frames[0].masked {
				t.Fatalf("client after the message: %+v, %v; want one unmasked close frame", c.frames, c.err)
			}
			if code, reason := closeCode(c.frames[0]); code != 1001 || reason != closeReasonGoing {
				t.Errorf("client close frame %d %q", code, reason)
			}
			if b.err != nil || len(b.frames) != 2 || string(b.frames[0].payload) != "part two" || !b.frames[1].masked {
				t.Fatalf("backend after the first fragment: %+v, %v; want the last fragment and a masked close", b.frames, b.err)
			}
			if code, _ := closeCode(b.frames[1]); code != 1001 {
				t.Errorf("backend close code %d", code)
			}
			res := waitResult(t, done)
			if res.Reason != Aborted || !errors.Is(res.Err, drained) || res.Ending != EndingPolite || res.FramingErr != nil {
				t.Errorf("Result = %+v, want Aborted, the drain, EndingPolite", res)
			}
		})
	}
}

// readN reads exactly n bytes.
func readN(t *testing.T, br *bufio.Reader, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := io.ReadFull(br, b); err != nil {
		t.Fatalf("read %d bytes: %v", n, err)
	}
	return b
}

// TestEndingWithoutPoliteness: when tether ends a tunnel it cannot end
// politely, it closes TCP at once as before: a message that does not finish
// within CloseGrace is cut (EndingCut, no close frame after the partial
// message); a backend that answered 200 is no WebSocket (EndingNone); a
// client that sends unmasked frames stops the tracking, its bytes are still
// forwarded, and the end is a cut with FramingErr set.
func TestEndingWithoutPoliteness(t *testing.T) {
	tests := []struct {
		name    string
		down    []byte // what the backend sends first
		up      []byte // what the client sends first
		ending  Ending
		framing string
		upFirst bool // the client sends before the backend answers
	}{
		{"message unfinished", append([]byte(upgradeHead), wsFrame(true, 0x2, false, make([]byte, 1000))[:500]...), wsFrame(true, 0x1, true, []byte("x")), EndingCut, "", false},
		{"not upgraded", []byte("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc"), nil, EndingNone, "", false},
		{"unmasked client frame", []byte(upgradeHead), wsFrame(true, 0x1, false, []byte("x")), EndingCut, "unmasked", false},
		{"reserved opcode from the backend", append([]byte(upgradeHead), wsFrame(true, 0x3, false, []byte("x"))...), nil, EndingCut, "reserved opcode", false},
		{"not upgraded, the client sent garbage", []byte("HTTP/1.1 400 Bad Request\r\n\r\n"), []byte("not a frame"), EndingNone, "", true},
		{"upgraded after the client sent garbage", []byte(upgradeHead), []byte("not a frame"), EndingCut, "reserved opcode", true},
	}
	for _, k := range wsKinds {
		for _, tt := range tests {
			t.Run(k.name+"/"+tt.name, func(t *testing.T) {
				e := NewEngine(k.cfg)
				defer e.Close()
				r := k.rig(t)
				ctx, cancel := context.WithCancel(context.Background())
				done := k.forward(ctx, e, r, Options{WebSocket: true, CloseGrace: 50 * time.Millisecond, CloseWait: hangLimit})
				// The backend answers first, as a client waits for the 101, unless upFirst.
				steps := []func(){
					func() {
						go r.backendPeer.Write(tt.down)
						readN(t, bufio.NewReader(r.clientPeer), len(tt.down))
					},
					func() {
						if len(tt.up) > 0 {
							go r.clientPeer.Write(tt.up)
							readN(t, bufio.NewReader(r.backendPeer), len(tt.up))
						}
					},
				}
				if tt.upFirst {
					steps[0], steps[1] = steps[1], steps[0]
				}
				for _, step := range steps {
					step()
				}
				cancel()
				res := waitResult(t, done)
				if res.Reason != Aborted || res.Ending != tt.ending {
					t.Errorf("Result = %+v, want Aborted and ending %q", res, tt.ending)
				}
				if (res.FramingErr == nil) != (tt.framing == "") || res.FramingErr != nil && !strings.Contains(res.FramingErr.Error(), tt.framing) {
					t.Errorf("FramingErr = %v, want %q", res.FramingErr, tt.framing)
				}
				rest, _ := io.ReadAll(r.clientPeer)
				if len(rest) > 0 {
					t.Errorf("the client got %d more bytes: % x", len(rest), rest[:min(len(rest), 16)])
				}
			})
		}
	}
}

// TestPoliteIdleTimeout: the idle timeout of a quiet WebSocket tunnel sends
// both peers a close frame 1001 "idle timeout" and ends with IdleTimeout and
// EndingPolite once they answered.
func TestPoliteIdleTimeout(t *testing.T) {
	for _, k := range wsKinds {
		t.Run(k.name, func(t *testing.T) {
			e := NewEngine(k.cfg)
			defer e.Close()
			r := k.rig(t)
			done := k.forward(context.Background(), e, r, Options{Idle: 100 * time.Millisecond, WebSocket: true, CloseGrace: hangLimit, CloseWait: hangLimit})
			go r.backendPeer.Write([]byte(upgradeHead))
			cbr, bbr := bufio.NewReader(r.clientPeer), bufio.NewReader(r.backendPeer)
			readN(t, cbr, len(upgradeHead))
			cres, bres := make(chan peerResult, 1), make(chan peerResult, 1)
			go closePeer(r.clientPeer, cbr, true, cres)
			go closePeer(r.backendPeer, bbr, false, bres)
			for _, ch := range []chan peerResult{cres, bres} {
				p := <-ch
				if p.err != nil || len(p.frames) != 1 {
					t.Fatalf("peer got %+v, %v; want one close frame", p.frames, p.err)
				}
				if code, reason := closeCode(p.frames[0]); code != 1001 || reason != closeReasonIdle {
					t.Errorf("close frame %d %q", code, reason)
				}
			}
			if res := waitResult(t, done); res.Reason != IdleTimeout || res.Ending != EndingPolite {
				t.Errorf("Result = %+v, want IdleTimeout, EndingPolite", res)
			}
		})
	}
}

// TestTrackedBurstAllocs: following WebSocket frames allocates nothing: small frames (copied)
// and 300 KB messages (peeked at and spliced to their end) cost a tracked tunnel the
// allocations of an untracked one (those of the test's own writer goroutine), both ways.
func TestTrackedBurstAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops items at random under the race detector")
	}
	small := [2][]byte{wsFrame(true, 0x2, true, make([]byte, 500)), wsFrame(true, 0x2, false, make([]byte, 500))}
	big := [2][]byte{wsFrame(true, 0x2, true, make([]byte, 300<<10)), wsFrame(true, 0x2, false, make([]byte, 300<<10))}
	measure := func(t *testing.T, k kind, tracked bool, frames [2][]byte) float64 {
		e := NewEngine(k.cfg)
		defer e.Close()
		r := newRig(t, false)
		ctx, cancel := context.WithCancel(context.Background())
		done := r.forward(ctx, e, Options{Idle: hangLimit, WebSocket: tracked, CloseGrace: 10 * time.Millisecond})
		defer func() { cancel(); waitResult(t, done) }()
		go r.backendPeer.Write([]byte(upgradeHead))
		readN(t, bufio.NewReader(r.clientPeer), len(upgradeHead))
		buf := make([]byte, len(frames[0]))
		errc := make(chan error, 1)
		hop := func(from, to net.Conn, frame []byte) {
			go func() { _, err := from.Write(frame); errc <- err }()
			if _, err := io.ReadFull(to, buf[:len(frame)]); err != nil {
				t.Fatal(err)
			}
			if err := <-errc; err != nil {
				t.Fatal(err)
			}
		}
		return testing.AllocsPerRun(50, func() {
			hop(r.clientPeer, r.backendPeer, frames[0])
			hop(r.backendPeer, r.clientPeer, frames[1])
		})
	}
	for _, k := range kinds {
		if k.tls {
			continue
		}
		t.Run(k.name, func(t *testing.T) {
			for _, frames := range [][2][]byte{small, big} {
				untracked, tracked := measure(t, k, false, frames), measure(t, k, true, frames)
				if tracked > untracked+0.5 {
					t.Errorf("%d-byte frames: %.2f allocations per round trip tracked, %.2f untracked", len(frames[0]), tracked, untracked)
				}
			}
		})
	}
}
