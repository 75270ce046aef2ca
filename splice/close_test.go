package splice

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"syscall"
	"testing"
	"time"
)

// kind is an engine mode and client-leg variant.
type kind struct {
	name string
	tls  bool
	cfg  EngineConfig
}

// kinds are the variants most behaviour tests run over: every client leg on
// the event loop and on goroutines.
var kinds = func() []kind {
	var ks []kind
	for _, m := range []struct {
		prefix string
		mode   Mode
	}{{"loop/", ModeEventLoop}, {"goroutines/", ModeGoroutines}} {
		ks = append(ks,
			kind{m.prefix + "plain-splice", false, EngineConfig{Mode: m.mode}},
			kind{m.prefix + "plain-copy", false, EngineConfig{Mode: m.mode, MaxPipes: -1}},
			kind{m.prefix + "tls", true, EngineConfig{Mode: m.mode}},
		)
	}
	return ks
}()

// TestHalfClose: one side sends and half-closes; the other side still
// replies after seeing EOF; the first side gets the whole reply, then EOF.
func TestHalfClose(t *testing.T) {
	reply := bytes.Repeat([]byte("0123456789abcdef"), 64<<10) // 1 MiB
	for _, k := range kinds {
		for _, first := range []side{sideClient, sideBackend} {
			t.Run(k.name+"/"+first.String()+"-first", func(t *testing.T) {
				e := NewEngine(k.cfg)
				defer e.Close()
				r := newRig(t, k.tls)
				done := r.forward(context.Background(), e, Options{})

				asker, answerer := r.clientPeer, net.Conn(r.backendPeer)
				wantReason, wantUp, wantDown := ClientClosed, int64(5), int64(len(reply))
				if first == sideBackend {
					asker, answerer = answerer, asker
					wantReason, wantUp, wantDown = BackendClosed, wantDown, wantUp
				}
				if _, err := asker.Write([]byte("hello")); err != nil {
					t.Fatalf("write: %v", err)
				}
				closeWriteConn(t, asker)
				got, err := io.ReadAll(answerer)
				if err != nil || string(got) != "hello" {
					t.Fatalf("answerer read %q, %v; want hello then EOF", got, err)
				}
				errc := make(chan error, 1)
				go func() {
					_, err := answerer.Write(reply)
					if err == nil {
						err = closeWrite(answerer)
					}
					errc <- err
				}()
				got, err = io.ReadAll(asker)
				if err != nil || !bytes.Equal(got, reply) {
					t.Fatalf("asker read %d bytes, %v; want the %d-byte reply then EOF", len(got), err, len(reply))
				}
				if err := <-errc; err != nil {
					t.Fatalf("answerer write: %v", err)
				}
				res := waitResult(t, done)
				if res.Reason != wantReason || res.Err != nil || res.Up != wantUp || res.Down != wantDown {
					t.Errorf("Result = %+v, want %v with Up=%d Down=%d", res, wantReason, wantUp, wantDown)
				}
			})
		}
	}
}

// TestHalfCloseTLSShutsDownTCP: EOF propagated to a TLS client is a
// close_notify AND a TCP FIN, while the tunnel is still open the other way.
func TestHalfCloseTLSShutsDownTCP(t *testing.T) {
	e := NewEngine(EngineConfig{})
	defer e.Close()
	r := newRig(t, true)
	done := r.forward(context.Background(), e, Options{})
	closeWriteConn(t, r.backendPeer)
	if got, err := io.ReadAll(r.clientPeer); err != nil || len(got) != 0 {
		t.Fatalf("client peer read %q, %v; want close_notify EOF", got, err)
	}
	_ = r.clientTCP.SetReadDeadline(time.Now().Add(hangLimit))
	if n, err := r.clientTCP.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("client peer socket read after close_notify: %d, %v; want io.EOF (TCP FIN)", n, err)
	}
	// The client->backend direction still works.
	if _, err := r.clientPeer.Write([]byte("late")); err != nil {
		t.Fatalf("client write after half-close: %v", err)
	}
	closeWriteConn(t, r.clientPeer)
	if got, err := io.ReadAll(r.backendPeer); err != nil || string(got) != "late" {
		t.Fatalf("backend read %q, %v; want late", got, err)
	}
	if res := waitResult(t, done); res.Reason != BackendClosed || res.Up != 4 {
		t.Errorf("Result = %+v, want BackendClosed with Up=4", res)
	}
}

// TestReset: a TCP RST from either peer ends the tunnel at once with that
// side's error reason and the underlying error.
func TestReset(t *testing.T) {
	for _, k := range kinds {
		for _, who := range []side{sideClient, sideBackend} {
			t.Run(k.name+"/"+who.String(), func(t *testing.T) {
				e := NewEngine(k.cfg)
				defer e.Close()
				r := newRig(t, k.tls)
				done := r.forward(context.Background(), e, Options{})
				roundTrip(t, r, "ping")
				want := BackendError
				if who == sideClient {
					resetConn(t, r.clientTCP)
					want = ClientError
				} else {
					resetConn(t, r.backendPeer)
				}
				res := waitResult(t, done)
				if res.Reason != want || !errors.Is(res.Err, syscall.ECONNRESET) {
					t.Errorf("Result = %+v (err %v), want %v wrapping ECONNRESET", res, res.Err, want)
				}
				if res.Up != 4 || res.Down != 4 {
					t.Errorf("Up, Down = %d, %d; want 4, 4", res.Up, res.Down)
				}
			})
		}
	}
}

// TestAbort: cancelling ctx ends a silent tunnel and a tunnel saturated in
// both directions with Aborted and the context's cause.
func TestAbort(t *testing.T) {
	for _, k := range kinds {
		for _, busy := range []bool{false, true} {
			name := k.name + "/silent"
			if busy {
				name = k.name + "/busy"
			}
			t.Run(name, func(t *testing.T) {
				e := NewEngine(k.cfg)
				defer e.Close()
				r := newRig(t, k.tls)
				ctx, cancel := context.WithCancel(context.Background())
				done := r.forward(ctx, e, Options{})
				if busy {
					// Cancel only once 1 MiB went through each way.
					var flowing [2]chan struct{}
					for i, c := range []net.Conn{r.clientPeer, r.backendPeer} {
						flowing[i] = make(chan struct{})
						go blast(c)
						go drain(c, 1<<20, flowing[i])
					}
					for _, f := range flowing {
						select {
						case <-f:
						case <-time.After(hangLimit):
							t.Fatal("bytes do not flow")
						}
					}
				}
				cancel()
				res := waitResult(t, done)
				if res.Reason != Aborted || !errors.Is(res.Err, context.Canceled) {
					t.Errorf("Result = %+v, want Aborted with context.Canceled", res)
				}
				if st := e.Stats(); st.Lent != 0 {
					t.Errorf("Stats().Lent = %d after abort, want 0", st.Lent)
				}
			})
		}
	}
}

// TestAbortBeforeStart: a ctx cancelled before Forward closes the conns
// and reports Aborted without forwarding.
func TestAbortBeforeStart(t *testing.T) {
	e := NewEngine(EngineConfig{})
	defer e.Close()
	r := newRig(t, false)
	ctx, cancel := context.WithCancelCause(context.Background())
	cause := errors.New("draining")
	cancel(cause)
	res := e.Forward(ctx, r.client, r.backend, Options{})
	if res.Reason != Aborted || res.Err != cause {
		t.Errorf("Result = %+v, want Aborted with the cancel cause", res)
	}
	_ = r.backendPeer.SetReadDeadline(time.Now().Add(hangLimit))
	if _, err := r.backendPeer.Read(make([]byte, 1)); err != io.EOF {
		t.Errorf("backend peer read = %v, want EOF (conn closed)", err)
	}
}

// drain reads c until it fails, closing flowing after n bytes.
func drain(c net.Conn, n int64, flowing chan<- struct{}) {
	buf := make([]byte, 64<<10)
	var total int64
	for {
		m, err := c.Read(buf)
		if total < n && total+int64(m) >= n {
			close(flowing)
		}
		total += int64(m)
		if err != nil {
			if total < n {
				close(flowing)
			}
			return
		}
	}
}

// blast writes to c until the write fails.
func blast(c net.Conn) {
	buf := make([]byte, 64<<10)
	for {
		if _, err := c.Write(buf); err != nil {
			return
		}
	}
}
