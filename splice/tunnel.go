package splice

import (
	"context"
	"crypto/tls"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// aLongTimeAgo is a deadline in the past: setting it makes every pending and
// future read, write and readiness wait on a conn fail at once.
var aLongTimeAgo = time.Unix(1, 0)

// tunnel is a stream tunnel (Engine.forwardStream): each direction blocks
// in Read on a goroutine of its own, for conns without a usable readiness
// signal.
type tunnel struct {
	e               *Engine
	ctx             context.Context
	opt             Options
	client, backend net.Conn

	up   leg // client -> backend, run by copyClientToBackend
	down leg // backend -> client, run by copyBackendToClient
	wg   sync.WaitGroup

	base     time.Time    // monotonic origin of last and halfCloseAt
	last     atomic.Int64 // ns since base of the last progress (only kept when Idle > 0)
	stopping atomic.Bool  // set with stopped; polled by legs between bursts

	mu          sync.Mutex
	stopped     bool   // torn down (or finished): timers and ctx do nothing
	reason      Reason // why it was torn down
	err         error
	clean       int    // legs that finished by propagating EOF
	firstClean  Reason // ClientClosed or BackendClosed: whose EOF came first
	halfCloseAt int64  // ns since base; 0 if not half-closed or no HalfClose
	timer       *time.Timer

	// A polite WebSocket ending (wsstream.go).
	wsEnding  atomic.Bool // the ending began: legs look at it between reads
	wsUp      atomic.Bool // the backend answered 101
	endPhase  uint8       // endNone, endBoundary or endReplies; under mu, as the fields below
	endReason Reason
	endErr    error
	endAt     int64 // ns since base: the end of the ending's current phase
	cut       bool  // tether ended an upgraded tunnel whose frames it could not follow
	wsErr     error // why frame tracking stopped, if a peer broke the framing
}

func (t *tunnel) forward() Result {
	if t.ctx.Err() != nil {
		closeConn(t.client)
		closeConn(t.backend)
		return Result{Reason: Aborted, Err: context.Cause(t.ctx)}
	}
	// Earlier pipeline stages (handshake, request-head peek) use deadlines;
	// a leftover one would fire in the middle of the tunnel.
	_ = t.client.SetDeadline(time.Time{})
	_ = t.backend.SetDeadline(time.Time{})

	t.up.init(t, sideClient, t.client, t.backend)
	t.down.init(t, sideBackend, t.backend, t.client)
	t.startTracking()

	t.opt.Idle, t.opt.HalfClose = max(t.opt.Idle, 0), max(t.opt.HalfClose, 0)
	t.base = time.Now()
	if t.opt.Idle > 0 {
		t.mu.Lock()
		t.timer = time.AfterFunc(t.opt.Idle, t.onTimer)
		t.mu.Unlock()
	}
	var stopAbort func() bool
	if t.ctx.Done() != nil {
		stopAbort = context.AfterFunc(t.ctx, t.abort)
	}

	t.wg.Add(1)
	go t.copyClientToBackend()
	t.copyBackendToClient()
	t.wg.Wait()

	if stopAbort != nil {
		stopAbort()
	}
	res := t.result()
	closeConn(t.client)
	closeConn(t.backend)
	return res
}

// copyClientToBackend runs the client->backend leg in its own goroutine.
func (t *tunnel) copyClientToBackend() {
	defer t.wg.Done()
	t.up.run()
}

// copyBackendToClient runs the backend->client leg on Forward's goroutine.
func (t *tunnel) copyBackendToClient() {
	t.down.run()
}

// now returns monotonic nanoseconds since t.base.
func (t *tunnel) now() int64 { return int64(time.Since(t.base)) }

// touch records progress for the idle timeout.
func (t *tunnel) touch() {
	if t.opt.Idle > 0 {
		t.last.Store(t.now())
	}
}

// result freezes the tunnel (late timer and ctx callbacks become no-ops)
// and reports what happened. Both legs must have finished.
func (t *tunnel) result() Result {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.stopped = true
	if t.timer != nil {
		t.timer.Stop()
	}
	r := Result{Up: t.up.n, Down: t.down.n, Ending: t.endingResult()}
	if t.wsUp.Load() {
		r.FramingErr = t.wsErr // not for a tunnel that never upgraded
	}
	if t.clean == 2 {
		// Both EOFs propagated: a normal end, even if a timeout raced with it.
		r.Reason = t.firstClean
	} else {
		r.Reason, r.Err = t.reason, t.err
	}
	return r
}

// sawEOF records that l's source ended, before the EOF is propagated: the
// peer may react to it (and end the other leg) before legDone runs.
func (t *tunnel) sawEOF(l *leg) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.firstClean == ReasonUnknown {
		t.firstClean = ClientClosed
		if l.srcSide == sideBackend {
			t.firstClean = BackendClosed
		}
	}
}

// legDone records how a leg ended: err is nil when it propagated EOF.
func (t *tunnel) legDone(l *leg, err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	switch {
	case err == nil:
		t.clean++
		if t.clean == 1 && t.opt.HalfClose > 0 && !t.stopped {
			now := t.now()
			t.halfCloseAt = now + int64(t.opt.HalfClose)
			if t.timer == nil {
				t.timer = time.AfterFunc(t.opt.HalfClose, t.onTimer)
			} else {
				t.timer.Reset(t.untilDueLocked(now))
			}
		}
	case t.stopped:
		// A consequence of the teardown; its cause is already recorded.
	case err == errEnded:
		// The source ended during a polite ending: the other leg or the timer ends it.
	default:
		r := ClientError
		if le, ok := err.(*legError); ok && le.side == sideBackend {
			r = BackendError
		}
		t.stopLocked(r, err)
	}
}

// onTimer enforces Options.Idle and Options.HalfClose. It re-arms itself
// for the earliest deadline instead of being reset on every read.
func (t *tunnel) onTimer() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.stopped {
		return
	}
	now := t.now()
	if t.endPhase != endNone {
		if t.endAt <= now {
			t.stopLocked(t.endReason, t.endErr) // a message unfinished, or no close reply in time
		} else {
			t.timer.Reset(time.Duration(t.endAt - now))
		}
		return
	}
	idleAt, halfAt := t.idleAtLocked(), t.halfCloseAt
	switch {
	case idleAt > 0 && idleAt <= now && (halfAt == 0 || idleAt <= halfAt):
		t.endLocked(IdleTimeout, nil)
	case halfAt > 0 && halfAt <= now:
		t.stopLocked(HalfCloseTimeout, nil)
	default:
		t.timer.Reset(t.untilDueLocked(now))
	}
}

// idleAtLocked returns when the tunnel becomes idle (ns since base), 0 if never.
func (t *tunnel) idleAtLocked() int64 {
	if t.opt.Idle <= 0 {
		return 0
	}
	return t.last.Load() + int64(t.opt.Idle)
}

// untilDueLocked returns the time from now until the earliest deadline.
func (t *tunnel) untilDueLocked(now int64) time.Duration {
	due := t.idleAtLocked()
	if h := t.halfCloseAt; h > 0 && (due == 0 || h < due) {
		due = h
	}
	return time.Duration(max(due-now, 1))
}

// abort tears the tunnel down when ctx is cancelled.
func (t *tunnel) abort() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.stopped {
		t.endLocked(Aborted, context.Cause(t.ctx))
	}
}

// stopLocked tears the tunnel down: deadlines in the past make every
// blocked read, write and readiness wait of both legs return at once.
func (t *tunnel) stopLocked(r Reason, err error) {
	t.stopped = true
	t.reason, t.err = r, err
	t.stopping.Store(true)
	_ = t.client.SetDeadline(aLongTimeAgo)
	_ = t.backend.SetDeadline(aLongTimeAgo)
}

// closeConn closes c without blocking. A *tls.Conn's socket is closed first:
// (*tls.Conn).Close would otherwise try to send close_notify and wait up to
// 5 s for a peer that does not read. Clean ends already sent close_notify
// with CloseWrite; other ends are truncations anyway.
func closeConn(c net.Conn) {
	if tc, ok := c.(*tls.Conn); ok {
		_ = tc.NetConn().Close()
	}
	_ = c.Close()
}
