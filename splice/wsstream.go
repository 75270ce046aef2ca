package splice

import (
	"errors"
	"time"

	"github.com/tether-proxy/tether/wsframe"
)

// A polite WebSocket ending of a stream tunnel (see Options.WebSocket): the same steps as the
// driven tunnel's (wsending_linux.go), with each leg's goroutine doing them for its direction.
// A leg's tracker belongs to its goroutine; the ending's state is under the tunnel's mu. When
// the ending begins, or when a leg must act on what the other did, the tunnel "kicks" the leg:
// a read deadline in the past makes its blocked Read return, and the leg looks at the ending
// before it reads again (a timeout is not sticky for *net.TCPConn nor for *tls.Conn).

// errEnded ends a leg whose source ended during a polite ending: the other leg, or the
// ending's timer, ends the tunnel.
var errEnded = errors.New("splice: direction ended during a polite ending")

// startTracking follows frames both ways when the tunnel may end politely.
func (t *tunnel) startTracking() {
	if t.opt.WebSocket && t.opt.CloseGrace > 0 {
		t.up.ws.Reset(wsframe.FromClient)
		t.down.ws.Reset(wsframe.FromServer)
	}
}

// endLocked ends the tunnel for a timeout or its context: politely when it follows frames and
// both directions still run, at once otherwise (the legs find out whether their frames are
// followed at their next turn, and stop the tunnel if not).
func (t *tunnel) endLocked(r Reason, err error) {
	if t.endPhase != endNone {
		return
	}
	if !t.opt.WebSocket || t.opt.CloseGrace <= 0 || t.clean > 0 {
		t.cut = t.clean > 0 && t.wsUp.Load()
		t.stopLocked(r, err)
		return
	}
	t.endPhase, t.endReason, t.endErr = endBoundary, r, err
	t.wsEnding.Store(true)
	t.armEndLocked(t.opt.CloseGrace)
	t.kickLocked(&t.up)
	t.kickLocked(&t.down)
}

// armEndLocked sets the tunnel's timer to the end of the ending's current phase.
func (t *tunnel) armEndLocked(d time.Duration) {
	d = max(d, 0)
	t.endAt = t.now() + int64(d)
	if t.timer == nil {
		t.timer = time.AfterFunc(d, t.onTimer)
		return
	}
	t.timer.Reset(max(d, 1))
}

// kickLocked makes l's blocked Read return so that it takes its turn in the ending.
func (t *tunnel) kickLocked(l *leg) {
	l.kicked = true
	_ = l.src.SetReadDeadline(aLongTimeAgo)
}

// endTurn is a leg's look at the ending before its next read: it notes a boundary, sends the
// leg's close frame once both directions are at theirs, and ends the tunnel once both close
// frames are out and both peers answered. It returns errStopped when the tunnel stopped.
func (t *tunnel) endTurn(l *leg) error {
	t.mu.Lock()
	if t.stopped {
		t.mu.Unlock()
		return errStopped
	}
	if l.kicked {
		l.kicked = false
		_ = l.src.SetReadDeadline(time.Time{})
	}
	if !l.reached && l.ws.State() != wsframe.Frames {
		// Not followed (not upgraded, bad framing, the head unfinished): cut.
		t.cut = t.wsUp.Load()
		t.stopLocked(t.endReason, t.endErr)
		t.mu.Unlock()
		return errStopped
	}
	if !l.reached && l.ws.AtBoundary() {
		t.reachLocked(l)
	}
	inject := t.mustInjectLocked(l)
	t.mu.Unlock()
	if inject {
		return t.injectClose(l)
	}
	return nil
}

// reachLocked marks l at its last message boundary: nothing more is forwarded; when the other
// leg is there already, it is kicked to send its close frame.
func (t *tunnel) reachLocked(l *leg) {
	l.reached, l.fwdClose = true, l.ws.Closed()
	if o := t.otherLeg(l); o.reached && !o.injected {
		t.kickLocked(o)
	}
}

// mustInjectLocked reports whether l is to send its close frame now.
func (t *tunnel) mustInjectLocked(l *leg) bool {
	return l.reached && t.otherLeg(l).reached && !l.injected && !l.injecting
}

func (t *tunnel) otherLeg(l *leg) *leg {
	if l == &t.up {
		return &t.down
	}
	return &t.up
}

// injectClose writes l's close frame 1001 to its destination (unless the peer's own close frame
// went there already), outside the lock: a full destination must not hold the tunnel.
func (t *tunnel) injectClose(l *leg) error {
	t.mu.Lock()
	l.injecting = true
	fwd := l.fwdClose
	t.mu.Unlock()
	var err error
	if !fwd {
		var buf [maxCloseFrame]byte
		err = l.write(appendCloseFrame(buf[:0], t.endReason, l.srcSide == sideClient))
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	l.injecting = false
	if err != nil {
		return err // legDone stops the tunnel (a cut)
	}
	l.injected = true
	if t.up.injected && t.down.injected && t.endPhase == endBoundary {
		t.endPhase = endReplies
		t.armEndLocked(t.opt.CloseWait)
	}
	return t.finishLocked()
}

// finishLocked stops the tunnel once both close frames are out and both peers answered.
func (t *tunnel) finishLocked() error {
	if t.stopped {
		return errStopped
	}
	if t.up.injected && t.down.injected && t.up.answered && t.down.answered {
		t.stopLocked(t.endReason, t.endErr)
		return errStopped
	}
	return nil
}

// forwardable follows p, read by a leg during the ending before its boundary, and returns how
// much of it belongs to the message in flight (to be forwarded); the rest comes after the
// boundary and is only searched for a close frame.
func (t *tunnel) forwardable(l *leg, p []byte) int {
	i := 0
	for i < len(p) && !l.ws.AtBoundary() && l.ws.State() == wsframe.Frames {
		k := int(min(int64(len(p)-i), l.ws.Need()))
		l.ws.Feed(p[i : i+k])
		i += k
	}
	if l.ws.State() != wsframe.Frames {
		return len(p) // not followed any more: endTurn stops the tunnel
	}
	if l.ws.AtBoundary() {
		t.mu.Lock()
		t.reachLocked(l)
		t.mu.Unlock()
		l.ws.Feed(p[i:])
		t.noteAnswer(l)
	}
	return i
}

// noteAnswer records a close frame (or framing no longer followed) from l's source after its
// boundary: the peer answered.
func (t *tunnel) noteAnswer(l *leg) {
	if !l.ws.Closed() && l.ws.State() == wsframe.Frames {
		return
	}
	t.mu.Lock()
	l.answered = true
	_ = t.finishLocked()
	t.mu.Unlock()
}

// follow feeds bytes a leg read outside an ending to its tracker, noting the backend's 101 and
// the first framing error.
func (t *tunnel) follow(l *leg, p []byte) {
	l.ws.Feed(p)
	switch l.ws.State() {
	case wsframe.Frames:
		if l.srcSide == sideBackend && !l.sawFrames {
			l.sawFrames = true
			t.wsUp.Store(true)
		}
	case wsframe.Bad:
		t.mu.Lock()
		if t.wsErr == nil {
			t.wsErr = l.ws.Err()
		}
		t.mu.Unlock()
		if l.srcSide == sideBackend {
			t.wsUp.Store(true)
		}
	}
}

// endEOF handles a source that ended during the ending: at a boundary it counts as the peer's
// answer (the leg sends its close frame first if it is due); inside a message the tunnel stops
// (a cut).
func (t *tunnel) endEOF(l *leg) error {
	t.mu.Lock()
	if t.stopped {
		t.mu.Unlock()
		return errStopped
	}
	if !l.reached && !l.ws.AtBoundary() {
		t.stopLocked(t.endReason, t.endErr)
		t.mu.Unlock()
		return errStopped
	}
	if !l.reached {
		t.reachLocked(l)
	}
	l.answered = true
	inject := t.mustInjectLocked(l)
	t.mu.Unlock()
	if inject {
		if err := t.injectClose(l); err != nil {
			return err
		}
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if err := t.finishLocked(); err != nil {
		return err
	}
	return errEnded
}

// endingResult says how the ended tunnel went, for the Result.
func (t *tunnel) endingResult() Ending {
	switch {
	case t.endPhase != endNone && t.up.injected && t.down.injected:
		return EndingPolite
	case !t.wsUp.Load():
		return EndingNone // never upgraded: no WebSocket to end
	case t.endPhase != endNone || t.cut:
		return EndingCut
	}
	return EndingNone
}
