package splice

import (
	"context"
	"io"
	"net"
	"testing"
	"time"
)

// quietWindow is how long a test watches an engine with no tunnel left.
const quietWindow = 300 * time.Millisecond

// TestQuietAfterLastTunnel pins issue 10's first defect: once the last
// tunnel has ended, whichever way it ended, the engine sleeps. On 5922e7c a
// tunnel that ended by a timer (idle or half-close timeout) left the
// netpoller deadline of its event loop expired but set, so the loop woke
// and returned at once forever: a full core spent with no tunnel open.
// The event loop's rounds must stay flat, and the process must not burn
// CPU, on both engines.
func TestQuietAfterLastTunnel(t *testing.T) {
	endings := []struct {
		name string
		opt  Options
		want Reason
		end  func(t *testing.T, r *rig, cancel context.CancelFunc)
	}{
		{"idle-timeout", Options{Idle: 150 * time.Millisecond}, IdleTimeout, func(*testing.T, *rig, context.CancelFunc) {}},
		{"half-close-timeout", Options{Idle: time.Minute, HalfClose: 150 * time.Millisecond}, HalfCloseTimeout,
			func(t *testing.T, r *rig, _ context.CancelFunc) { closeWriteConn(t, r.clientPeer) }},
		{"drain-deadline", Options{Idle: time.Minute}, Aborted,
			func(_ *testing.T, _ *rig, cancel context.CancelFunc) { cancel() }},
		{"client-close", Options{Idle: time.Minute}, ClientClosed,
			func(t *testing.T, r *rig, _ context.CancelFunc) { closeBoth(t, r.clientPeer, r.backendPeer) }},
		{"backend-close", Options{Idle: time.Minute}, BackendClosed,
			func(t *testing.T, r *rig, _ context.CancelFunc) { closeBoth(t, r.backendPeer, r.clientPeer) }},
	}
	for _, k := range kinds {
		for _, end := range endings {
			t.Run(k.name+"/"+end.name, func(t *testing.T) {
				e := NewEngine(k.cfg)
				defer e.Close()
				r := newRig(t, k.tls)
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				done := r.forward(ctx, e, end.opt)
				// One message first, so the tunnel really ran on its engine.
				echoOnce(t, r)
				end.end(t, r, cancel)
				if res := waitResult(t, done); res.Reason != end.want {
					t.Fatalf("Result = %+v, want reason %v", res, end.want)
				}
				wakeups, cpu := e.Stats().Wakeups, cpuTime()
				time.Sleep(quietWindow)
				if n := e.Stats().Wakeups - wakeups; n > 2 {
					t.Errorf("event loops ran %d rounds in %v with no tunnel (want at most 2)", n, quietWindow)
				}
				if used := cpuTime() - cpu; used > quietWindow/2 {
					t.Errorf("process used %v of CPU in %v with no tunnel", used, quietWindow)
				}
			})
		}
	}
}

// echoOnce sends one small message from client to backend through the tunnel.
func echoOnce(t *testing.T, r *rig) {
	t.Helper()
	if _, err := r.clientPeer.Write([]byte("ping")); err != nil {
		t.Fatalf("write: %v", err)
	}
	buf := make([]byte, 4)
	if _, err := io.ReadFull(r.backendPeer, buf); err != nil {
		t.Fatalf("read at backend: %v", err)
	}
}

// closeBoth half-closes first, waits for the EOF at other, then half-closes
// other: the ordinary end of a tunnel that first started to close.
func closeBoth(t *testing.T, first, other net.Conn) {
	t.Helper()
	closeWriteConn(t, first)
	if _, err := io.Copy(io.Discard, other); err != nil {
		t.Fatalf("read to EOF: %v", err)
	}
	closeWriteConn(t, other)
}
