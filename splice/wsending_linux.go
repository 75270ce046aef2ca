//go:build linux

package splice

import (
	"golang.org/x/sys/unix"

	"github.com/tether-proxy/tether/wsframe"
)

// startTracking follows frames both ways when the tunnel may end politely.
func (t *loopTunnel) startTracking() {
	if t.opt.WebSocket && t.opt.CloseGrace > 0 {
		t.up.ws.Reset(wsframe.FromClient)
		t.down.ws.Reset(wsframe.FromServer)
	}
}

// track feeds bytes read from l's source to its tracker (l.ws is On). It
// returns false when they are not to be forwarded: the direction passed its
// last message (they are only searched for a close frame), or the tunnel
// stopped.
func (t *loopTunnel) track(l *loopLeg, p []byte) bool {
	l.ws.Feed(p)
	switch {
	case l.reached:
		return false
	case !l.ws.On() || t.wsErr != nil:
		t.trackingLost(l)
		return !t.stopped
	case t.ending != endNone && l.ws.AtBoundary():
		t.reach(l)
	}
	return true
}

// trackingLost turns tracking off both ways: the backend did not answer 101,
// or a peer broke the framing rules (recorded for the Result; tether keeps
// forwarding). An ending under way is cut.
func (t *loopTunnel) trackingLost(l *loopLeg) {
	if err := l.ws.Err(); err != nil && t.wsErr == nil {
		t.wsErr = err
	}
	if t.down.ws.State() == wsframe.Head {
		// The client broke the framing before the backend answered: read on to
		// learn whether the tunnel upgraded (track comes back here then).
		return
	}
	t.wsUpgraded = t.upgraded()
	t.up.ws.Disable()
	t.down.ws.Disable()
	if t.ending != endNone {
		t.stop(t.endReason, t.endErr)
	}
}

// upgraded reports whether the backend answered 101.
func (t *loopTunnel) upgraded() bool {
	st := t.down.ws.State()
	return t.wsUpgraded || st == wsframe.Frames || st == wsframe.Bad
}

// end ends the tunnel for a timeout or its context: a WebSocket tunnel
// whose frames are followed both ways ends politely, any other stops now.
func (t *loopTunnel) end(r Reason, err error) {
	if t.ending != endNone {
		return
	}
	if !t.mayEndPolitely() {
		if t.opt.WebSocket && t.opt.CloseGrace > 0 && t.upgraded() {
			t.cut = true
		}
		t.stop(r, err)
		return
	}
	t.ending, t.endReason, t.endErr = endBoundary, r, err
	t.endAt = t.drv.now() + int64(t.opt.CloseGrace)
	t.drv.setTimer(t, t.endAt)
	for _, l := range [2]*loopLeg{&t.up, &t.down} {
		if l.ws.AtBoundary() {
			t.reach(l)
		}
	}
	t.advanceEnding()
	if !t.stopped {
		t.drv.again(t)
	}
}

// mayEndPolitely: both trackers follow frames and both directions still run.
func (t *loopTunnel) mayEndPolitely() bool {
	return t.up.ws.State() == wsframe.Frames && t.down.ws.State() == wsframe.Frames &&
		!t.up.eof && !t.down.eof && !t.up.done && !t.down.done
}

// reach marks l at its last message boundary: nothing more is forwarded.
func (t *loopTunnel) reach(l *loopLeg) {
	l.reached = true
	l.bulk = false
	l.fwdClose = l.ws.Closed()
}

// advanceEnding sends the close frames once both directions reached their
// boundary and stops the tunnel once they are out and both peers answered.
func (t *loopTunnel) advanceEnding() {
	if t.ending == endBoundary {
		if !t.up.reached || !t.down.reached {
			return
		}
		for _, l := range [2]*loopLeg{&t.up, &t.down} {
			if !l.injected && l.inPipe == 0 {
				if t.injectClose(l); t.stopped {
					return
				}
			}
		}
		if !t.up.injected || !t.down.injected {
			return
		}
		t.ending = endReplies
		t.endAt = t.drv.now() + int64(max(t.opt.CloseWait, 0))
		t.drv.setTimer(t, t.endAt)
		t.drv.again(t)
	}
	if t.ending == endReplies && t.flushed(&t.up) && t.flushed(&t.down) && t.answered(&t.up) && t.answered(&t.down) {
		t.stop(t.endReason, t.endErr)
	}
}

// flushed: dst took everything l has for it.
func (t *loopTunnel) flushed(l *loopLeg) bool { return l.dst.pending() == 0 && l.inPipe == 0 }

// answered: l's source sent its close frame, ended, or stopped making sense.
func (t *loopTunnel) answered(l *loopLeg) bool { return l.ws.Closed() || l.eof || !l.ws.On() }

// injectClose queues a close frame 1001 for l's destination, masked toward
// the backend (RFC 6455 section 5.3), unless the peer's own close frame
// already went there.
func (t *loopTunnel) injectClose(l *loopLeg) {
	l.injected = true
	if l.fwdClose {
		return
	}
	var buf [maxCloseFrame]byte
	if err := t.deliver(l, appendCloseFrame(buf[:0], t.endReason, l == &t.up)); err != nil {
		l.injected = false // not out: the ending is a cut
		t.fail(err)
	}
}

// endEOF handles a source that ended during an ending. After the close
// frames went out (a server closes TCP after its close frame), the direction
// is done and the tunnel waits for the other peer's answer; before, the
// tunnel stops now, with close frames to whichever side can still take one
// at a boundary.
func (t *loopTunnel) endEOF(l *loopLeg) {
	if t.ending == endReplies && t.flushed(l) {
		l.done = true
		return
	}
	if !l.reached && !l.ws.AtBoundary() {
		t.stop(t.endReason, t.endErr)
		return
	}
	if !l.reached {
		t.reach(l)
	}
	for _, o := range [2]*loopLeg{&t.up, &t.down} {
		if o.reached && !o.injected && o.inPipe == 0 {
			if t.injectClose(o); t.stopped {
				return
			}
		}
	}
	t.stop(t.endReason, t.endErr)
}

// ending reports how an ended WebSocket tunnel went, for the Result.
func (t *loopTunnel) endingResult() Ending {
	switch {
	case t.ending != endNone && t.up.injected && t.down.injected && t.flushed(&t.up) && t.flushed(&t.down):
		return EndingPolite
	case t.ending != endNone || t.cut:
		return EndingCut
	}
	return EndingNone
}

// readLimit keeps a read of a direction that is finishing its message from
// passing the end of the current frame.
func (t *loopTunnel) readLimit(l *loopLeg, buf []byte) []byte {
	if t.ending != endNone && !l.reached && l.ws.On() {
		return buf[:min(int64(len(buf)), l.ws.Need())]
	}
	return buf
}

// spliceFramed is a splice burst of a tracked stream: it never splices past
// the end of the current frame, so every frame header is read in userspace.
// At a header it peeks at the next frame and splices it (header included)
// only when it is big; ok false sends the burst to the copy path instead.
func (t *loopTunnel) spliceFramed(l *loopLeg) (n int, blocked, ok bool) {
	if lim := l.ws.SpliceLimit(); lim > 0 {
		n, blocked = t.spliceIn(l, int(min(lim, int64(l.pipe.size))))
		l.ws.Skip(int64(n))
		if t.ending != endNone && l.ws.AtBoundary() {
			t.reach(l)
		}
		return n, blocked, true
	}
	if t.ending != endNone {
		return 0, false, false
	}
	var hdr [14]byte
	m, err := rawPeek(l.src.fd, hdr[:])
	switch {
	case err == unix.EAGAIN:
		l.src.readable = false
		return 0, true, true
	case err != nil || m == 0:
		return 0, false, false // the copy path reads the error or the EOF
	}
	ahead := l.ws
	ahead.Feed(hdr[:m])
	lim := ahead.SpliceLimit()
	if ahead.State() != wsframe.Frames || lim < int64(len(t.drv.scratch())) {
		return 0, false, false
	}
	n, blocked = t.spliceIn(l, int(min(int64(m)+lim, int64(l.pipe.size))))
	if n >= m {
		l.ws = ahead
		l.ws.Skip(int64(n - m))
	} else {
		l.ws.Feed(hdr[:n])
	}
	return n, blocked, true
}
