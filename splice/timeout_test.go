package splice

import (
	"context"
	"io"
	"net"
	"testing"
	"time"
)

const (
	shortIdle = 200 * time.Millisecond
	tick      = 50 * time.Millisecond
	activeFor = 600 * time.Millisecond
)

// TestIdleTimeoutSilent: a tunnel where nothing moves ends with IdleTimeout,
// not before Idle passed.
func TestIdleTimeoutSilent(t *testing.T) {
	for _, k := range kinds {
		t.Run(k.name, func(t *testing.T) {
			e := NewEngine(k.cfg)
			defer e.Close()
			r := newRig(t, k.tls)
			start := time.Now()
			res := waitResult(t, r.forward(context.Background(), e, Options{Idle: shortIdle}))
			if res.Reason != IdleTimeout || res.Err != nil {
				t.Errorf("Result = %+v, want IdleTimeout without error", res)
			}
			if el := time.Since(start); el < shortIdle {
				t.Errorf("ended after %v, before Idle=%v", el, shortIdle)
			}
		})
	}
}

// TestIdleTimeoutOneWay: only one direction sends small messages every
// 50 ms for 600 ms; with Idle=200ms the tunnel must stay up all that time
// (the silent direction does not time out on its own), then idle out.
func TestIdleTimeoutOneWay(t *testing.T) {
	for _, k := range kinds {
		for _, sender := range []side{sideClient, sideBackend} {
			t.Run(k.name+"/"+sender.String()+"-sends", func(t *testing.T) {
				e := NewEngine(k.cfg)
				defer e.Close()
				r := newRig(t, k.tls)
				done := r.forward(context.Background(), e, Options{Idle: shortIdle})
				from, to := r.clientPeer, net.Conn(r.backendPeer)
				if sender == sideBackend {
					from, to = to, from
				}
				msg, buf := []byte("tick"), make([]byte, 4)
				n := int(activeFor / tick)
				for i := range n {
					time.Sleep(tick)
					if _, err := from.Write(msg); err != nil {
						t.Fatalf("message %d: write: %v", i, err)
					}
					if _, err := io.ReadFull(to, buf); err != nil {
						t.Fatalf("message %d: read: %v (tunnel ended while one direction was active)", i, err)
					}
				}
				select {
				case res := <-done:
					t.Fatalf("tunnel ended while one direction was active: %+v", res)
				default:
				}
				res := waitResult(t, done)
				if res.Reason != IdleTimeout {
					t.Errorf("Result = %+v, want IdleTimeout after the messages stopped", res)
				}
				if got := res.Up + res.Down; got != int64(n*len(msg)) {
					t.Errorf("Up+Down = %d, want %d", got, n*len(msg))
				}
			})
		}
	}
}

// TestIdleTimeoutBlockedWrite: a destination that never reads makes the
// writing leg block; blocked writes are no progress, so the tunnel idles out.
func TestIdleTimeoutBlockedWrite(t *testing.T) {
	for _, k := range kinds {
		for _, stuck := range []side{sideClient, sideBackend} {
			t.Run(k.name+"/"+stuck.String()+"-not-reading", func(t *testing.T) {
				e := NewEngine(k.cfg)
				defer e.Close()
				r := newRig(t, k.tls)
				done := r.forward(context.Background(), e, Options{Idle: shortIdle})
				writer := net.Conn(r.backendPeer)
				if stuck == sideBackend {
					writer = r.clientPeer
				}
				go blast(writer)
				res := waitResult(t, done)
				if res.Reason != IdleTimeout || res.Err != nil {
					t.Errorf("Result = %+v, want IdleTimeout without error", res)
				}
				if res.Up+res.Down == 0 {
					t.Errorf("no bytes moved before the destination filled up")
				}
				if st := e.Stats(); st.Lent != 0 {
					t.Errorf("Stats().Lent = %d, want 0", st.Lent)
				}
			})
		}
	}
}

// TestHalfCloseTimeout: after the client half-closed, the backend may keep
// sending only HalfClose long, even while bytes move (Idle never fires).
func TestHalfCloseTimeout(t *testing.T) {
	for _, k := range kinds {
		t.Run(k.name, func(t *testing.T) {
			e := NewEngine(k.cfg)
			defer e.Close()
			r := newRig(t, k.tls)
			opt := Options{Idle: time.Hour, HalfClose: shortIdle}
			done := r.forward(context.Background(), e, opt)
			// The half-close clock starts when tether has propagated the EOF, before
			// the backend peer sees it: take the time before the client half-closes.
			start := time.Now()
			closeWriteConn(t, r.clientPeer)
			if _, err := io.ReadAll(r.backendPeer); err != nil {
				t.Fatalf("backend read to EOF: %v", err)
			}
			go func() {
				for {
					if _, err := r.backendPeer.Write([]byte("tick")); err != nil {
						return
					}
					time.Sleep(tick)
				}
			}()
			go func() { _, _ = io.Copy(io.Discard, r.clientPeer) }()
			res := waitResult(t, done)
			if res.Reason != HalfCloseTimeout || res.Err != nil {
				t.Errorf("Result = %+v, want HalfCloseTimeout without error", res)
			}
			if el := time.Since(start); el < shortIdle {
				t.Errorf("ended %v after the half-close, before HalfClose=%v", el, shortIdle)
			}
		})
	}
}
