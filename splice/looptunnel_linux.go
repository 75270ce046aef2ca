//go:build linux

package splice

import (
	"context"
	"io"
	"net"
	"os"

	"golang.org/x/sys/unix"

	"github.com/tether-proxy/tether/wsframe"
)

// tlsRecordsOverhead is what a read into a TLS destination leaves free of
// the loop's buffer size, so that the records of one burst (headers and
// tags: 22 bytes per record, records as small as ~1.4 KB while crypto/tls
// sizes them up after idle) fit one pending buffer.
const tlsRecordsOverhead = 1 << 10

// driver is what runs a loopTunnel: an event loop, or a goDriver.
type driver interface {
	now() int64                        // ns since the driver's origin
	scratch() []byte                   // the buffer for one read, lent for the current pump
	setTimer(t *loopTunnel, due int64) // (re)arm the tunnel's one timer
	again(t *loopTunnel)               // the tunnel used its budget with work left
	abortOn(t *loopTunnel) func() bool // arrange for ctx's end to stop the tunnel
	ended(t *loopTunnel, res Result)   // the tunnel stopped: forget it, deliver res
}

// pumpBudget bounds the bytes one leg moves per turn, so that one busy
// tunnel cannot starve the others on its loop.
const pumpBudget = 512 << 10

// loopTunnel is a tunnel's state machine: bursts driven by readiness, by an
// event loop (edges from its epoll set) or by two goroutines (each waiting
// in the Go netpoller for what its direction needs next).
type loopTunnel struct {
	e    *Engine
	drv  driver // what runs it: an event loop, or a goDriver
	ctx  context.Context
	opt  Options
	done func(Result)

	client, backend endpoint
	up, down        loopLeg

	setup  *Setup     // while the connection is set up on the loop (Engine.Accept), else nil
	ka     *KeepAlive // to set on the backend socket once the tunnel lives keepAliveAfter (Setup.Dial)
	kaAt   int64      // when, 0 once done
	slot   int32
	queued bool // in the loop's runq
	hidx   int  // index in the loop's timer heap, -1 if absent
	due    int64

	last       int64 // drv.now() of the last progress
	halfAt     int64 // half-close deadline, 0 if none
	clean      int   // legs that ended by propagating EOF
	firstClean Reason

	stopped   bool
	reason    Reason
	err       error
	stopAbort func() bool

	// A polite WebSocket ending (wsending_linux.go).
	ending     uint8  // endNone, endBoundary or endReplies
	endAt      int64  // deadline of the current phase
	endReason  Reason // why the tunnel is ending
	endErr     error
	cut        bool  // tether ended an upgraded tunnel whose frames it could not follow
	wsUpgraded bool  // the backend answered 101 (kept when tracking stops)
	wsErr      error // why frame tracking stopped, if a peer broke the framing
}

// loopLeg is one direction of a loop tunnel: src -> dst.
type loopLeg struct {
	src, dst *endpoint
	n        int64 // plaintext bytes written to a *tls.Conn dst
	pipe     *pipe // borrowed for a splice burst
	inPipe   int   // bytes in pipe not yet spliced to dst
	bulk     bool  // the last copy read filled the buffer: splice the rest of the burst
	srcMore  bool  // a TLS src returned data: it may hold more already decrypted
	eof      bool  // src ended
	notified bool  // dst was told (close_notify queued, write half to be shut)
	done     bool
	spliced  bool

	ws       wsframe.Tracker // frame boundaries of src's stream; Off unless the tunnel tracks frames
	reached  bool            // ending: src passed its last message; its bytes are only searched for a close frame
	fwdClose bool            // ending: src's own close frame went to dst before the boundary
	injected bool            // ending: tether's close frame is queued for dst (or fwdClose)
}

// written is what the leg delivered: plaintext for a TLS dst, bytes the
// socket took for a plain one.
func (l *loopLeg) written() int64 {
	if l.dst.tls != nil {
		return l.n
	}
	return l.dst.sent
}

// detach takes both sockets out of their conns, or neither.
func (t *loopTunnel) detach(client, backend net.Conn) error {
	if err := t.client.dup(client, sideClient, &t.e.bufs); err != nil {
		return err
	}
	if err := t.backend.dup(backend, sideBackend, &t.e.bufs); err != nil {
		t.client.undo()
		return err
	}
	return nil
}

// undo gives both sockets back.
func (t *loopTunnel) undo() {
	t.client.undo()
	t.backend.undo()
}

// commit finishes detach: from here on only the loop uses the sockets.
func (t *loopTunnel) commit() {
	t.client.commit()
	t.backend.commit()
	t.wireLegs()
}

// wireLegs points each direction at its endpoints, once they are set up.
func (t *loopTunnel) wireLegs() {
	t.up = loopLeg{src: &t.client, dst: &t.backend}
	t.down = loopLeg{src: &t.backend, dst: &t.client}
	t.hidx = -1
	t.startTracking()
}

// start arms the timers and the context; it runs on the loop.
func (t *loopTunnel) start(now int64) {
	t.last = now
	t.opt.Idle, t.opt.HalfClose = max(t.opt.Idle, 0), max(t.opt.HalfClose, 0)
	if t.ka != nil {
		t.kaAt = now + int64(keepAliveAfter)
	}
	if due := t.nextDue(); due > 0 {
		t.drv.setTimer(t, due)
	}
	if t.ctx.Done() != nil && t.stopAbort == nil { // a Setup's is registered already
		t.stopAbort = t.drv.abortOn(t)
	}
}

func (t *loopTunnel) touch() { t.last = t.drv.now() }

// pump moves bytes both ways until nothing more can move now.
func (t *loopTunnel) pump() {
	if t.setup != nil {
		t.setup.advance()
		return
	}
	moreUp := t.pumpLeg(&t.up)
	if t.stopped {
		return
	}
	moreDown := t.pumpLeg(&t.down)
	switch {
	case t.stopped:
	case t.up.done && t.down.done:
		t.stop(ReasonUnknown, nil)
	case moreUp || moreDown:
		t.drv.again(t)
	}
}

// pumpLeg runs one direction until its source would block, its
// destination is full, it ends, or it used its budget (then it returns
// true: more to do).
func (t *loopTunnel) pumpLeg(l *loopLeg) (more bool) {
	if l.done {
		return false
	}
	defer t.pumped(l)
	for budget := pumpBudget; ; {
		if err := t.flushLeg(l); err != nil {
			t.fail(err)
			return false
		}
		if l.dst.pending() > 0 || l.inPipe > 0 {
			return false // dst is full: its writability edge resumes us
		}
		if l.eof {
			if t.ending != endNone {
				t.endEOF(l)
				return false
			}
			if !l.notified {
				l.notified = true
				t.sawEOF(l)
				if l.dst.tls != nil {
					if err := l.dst.tls.CloseWrite(); err != nil {
						t.fail(&legError{side: l.dst.side, op: "close write", err: err})
						return false
					}
				}
				// When the other direction has ended too, the tunnel closes both
				// sockets right away, and close(2) sends the FIN: a shutdown(2)
				// first would be one system call too many.
				l.dst.shutWr = !t.otherLeg(l).done
				continue // flush the alert and shut down
			}
			if l.dst.shut || !l.dst.shutWr {
				l.done = true
				t.legDone()
			}
			return false
		}
		if budget <= 0 {
			return true
		}
		n, blocked := t.burst(l)
		if blocked || t.stopped {
			return false
		}
		budget -= n
	}
}

func (t *loopTunnel) otherLeg(l *loopLeg) *loopLeg {
	if l == &t.up {
		return &t.down
	}
	return &t.up
}

// burst reads once from src and hands the bytes to dst. blocked means src
// has nothing now (or the tunnel failed).
func (t *loopTunnel) burst(l *loopLeg) (n int, blocked bool) {
	src := l.src
	if src.tls != nil {
		// crypto/tls may hold decrypted or undecrypted bytes the socket
		// no longer has: read until it asks the socket and hears EAGAIN.
		if !src.readable && !l.srcMore {
			return 0, true
		}
		// Gather the plaintext of several records (as much as the buffer
		// holds) and hand it to dst in one write.
		buf := t.readLimit(l, t.drv.scratch())
		n := 0
		var err error
		for n < len(buf) {
			var m int
			m, err = src.tls.Read(buf[n:])
			n += m
			if err != nil || m == 0 {
				break
			}
		}
		l.srcMore = n > 0
		if n > 0 {
			t.touch()
			if l.ws.On() && !t.track(l, buf[:n]) {
				return n, t.stopped || t.readResult(l, err)
			}
			if err := t.deliver(l, buf[:n]); err != nil {
				t.fail(err)
				return n, true
			}
		}
		return n, t.readResult(l, err)
	}
	if !src.readable {
		return 0, true
	}
	if l.bulk && l.dst.tls == nil && !l.reached {
		if l.pipe == nil {
			l.pipe = t.e.pipes.get()
		}
		switch {
		case l.pipe == nil:
			l.bulk = false
		case !l.ws.On():
			return t.spliceIn(l, l.pipe.size)
		default:
			if n, blocked, ok := t.spliceFramed(l); ok {
				return n, blocked
			}
		}
	}
	buf := t.drv.scratch()
	if l.dst.tls != nil {
		buf = buf[:len(buf)-tlsRecordsOverhead]
	}
	buf = t.readLimit(l, buf)
	n, err := src.read(buf)
	if n > 0 {
		t.touch()
		// A full buffer means a burst: splice the rest of it when both
		// ends are plain sockets. Small messages stay one read and one write.
		l.bulk = n == len(buf) && l.dst.tls == nil && t.e.pipes != nil
		if l.ws.On() && !t.track(l, buf[:n]) {
			return n, t.stopped
		}
		if err := t.deliver(l, buf[:n]); err != nil {
			t.fail(err)
			return n, true
		}
		return n, false
	}
	return 0, t.readResult(l, err)
}

// readResult handles a read error; true means src is blocked or failed.
func (t *loopTunnel) readResult(l *loopLeg, err error) bool {
	switch err.(type) {
	case nil:
		return false
	case wouldBlockError:
		l.srcMore = false
		return true
	}
	if err == io.EOF {
		l.eof = true
		return false
	}
	t.fail(&legError{side: l.src.side, op: "read", err: err})
	return true
}

// deliver writes p to dst; a full socket keeps the rest (pending).
func (t *loopTunnel) deliver(l *loopLeg, p []byte) error {
	var err error
	if l.dst.tls != nil {
		// crypto/tls writes each record on its own; queue them and write them
		// together (burst reads leave room for the record overhead, so they
		// fit the pending buffer).
		var n int
		l.dst.cork = true
		n, err = l.dst.tls.Write(p)
		l.dst.cork = false
		l.n += int64(n)
		if err == nil {
			if _, ferr := l.dst.flush(); ferr != nil {
				err = ferr
			}
		}
	} else {
		_, err = l.dst.send(p)
	}
	if err != nil {
		return &legError{side: l.dst.side, op: "write", err: err}
	}
	return nil
}

// spliceIn fills the leg's empty pipe from src once, with at most limit bytes.
func (t *loopTunnel) spliceIn(l *loopLeg, limit int) (int, bool) {
	for {
		n, err := rawSplice(l.src.fd, l.pipe.w, limit, spliceFlags)
		switch {
		case err == unix.EINTR:
			continue
		case err == unix.EAGAIN:
			// Stay in bulk mode: the next burst of a bulk stream starts with
			// a splice, not with a copy of its first buffer.
			l.src.readable = false
			return 0, true
		case err != nil:
			t.fail(&legError{side: l.src.side, op: "read", err: os.NewSyscallError("splice", err)})
			return 0, true
		case n == 0:
			l.eof, l.bulk = true, false
			return 0, false
		}
		l.inPipe = int(n)
		l.spliced = true
		// A small burst ends bulk mode: small messages go back to one read
		// and one write. (A burst that took all it was allowed, the rest of a
		// WebSocket frame, does not.)
		l.bulk = n >= int64(len(t.drv.scratch())) || n == int64(limit)
		t.touch()
		return int(n), false
	}
}

// flushLeg writes what dst still holds for this leg (pending bytes, then
// the pipe) and shuts dst's write half down when asked and nothing is left.
func (t *loopTunnel) flushLeg(l *loopLeg) error {
	dst := l.dst
	if dst.pending() > 0 {
		n, err := dst.flush()
		if n > 0 {
			t.touch()
		}
		if err != nil {
			return &legError{side: dst.side, op: "write", err: err}
		}
		if dst.pending() > 0 {
			return nil
		}
	}
	for l.inPipe > 0 && dst.writable {
		n, err := rawSplice(l.pipe.r, dst.fd, l.inPipe, spliceFlags)
		switch {
		case err == unix.EINTR:
			continue
		case err == unix.EAGAIN:
			dst.writable = false
			return nil
		case err != nil:
			return &legError{side: dst.side, op: "write", err: os.NewSyscallError("splice", err)}
		case n == 0:
			return &legError{side: dst.side, op: "write", err: io.ErrNoProgress}
		}
		l.inPipe -= int(n)
		dst.sent += n
		t.touch()
	}
	if dst.shutWr && !dst.shut && dst.pending() == 0 && l.inPipe == 0 {
		if err := rawShutdownWrite(dst.fd); err != nil {
			return &legError{side: dst.side, op: "close write", err: os.NewSyscallError("shutdown", err)}
		}
		dst.shut = true
	}
	return nil
}

// pumped ends a pump of l: the pipe goes back if empty, and an ending
// moves on.
func (t *loopTunnel) pumped(l *loopLeg) {
	t.returnPipe(l)
	if t.ending != endNone && !t.stopped {
		t.advanceEnding()
	}
}

// returnPipe gives an empty pipe back between bursts; a pipe with bytes
// stays with the leg until dst takes them.
func (t *loopTunnel) returnPipe(l *loopLeg) {
	if l.pipe != nil && l.inPipe == 0 && !t.stopped {
		t.e.pipes.put(l.pipe, true)
		l.pipe = nil
	}
}

// sawEOF records whose EOF came first.
func (t *loopTunnel) sawEOF(l *loopLeg) {
	if t.firstClean == ReasonUnknown {
		t.firstClean = ClientClosed
		if l.src.side == sideBackend {
			t.firstClean = BackendClosed
		}
	}
}

// legDone counts a leg that ended cleanly and starts the half-close clock.
func (t *loopTunnel) legDone() {
	t.clean++
	if t.clean == 1 && t.opt.HalfClose > 0 {
		t.halfAt = t.drv.now() + int64(t.opt.HalfClose)
		t.drv.setTimer(t, t.nextDue())
	}
}

// nextDue is the earliest of the idle and half-close deadlines (0: none),
// or the deadline of an ending's phase.
func (t *loopTunnel) nextDue() int64 {
	if t.ending != endNone {
		return t.endAt
	}
	due := int64(0)
	if t.opt.Idle > 0 {
		due = t.last + int64(t.opt.Idle)
	}
	if t.halfAt > 0 && (due == 0 || t.halfAt < due) {
		due = t.halfAt
	}
	if t.kaAt > 0 && (due == 0 || t.kaAt < due) {
		due = t.kaAt
	}
	return due
}

// onTimer enforces Idle and HalfClose; the deadline is re-armed lazily
// from the last progress instead of being reset on every read.
func (t *loopTunnel) onTimer(now int64) {
	if t.setup != nil {
		t.setup.expired = true
		t.setup.advance()
		return
	}
	if t.kaAt > 0 && t.kaAt <= now {
		t.kaAt = 0
		t.armKeepAlive()
	}
	if t.ending != endNone {
		if t.endAt <= now {
			t.stop(t.endReason, t.endErr) // a message unfinished, or no close reply in time
		} else {
			t.drv.setTimer(t, t.endAt)
		}
		return
	}
	idleAt := int64(0)
	if t.opt.Idle > 0 {
		idleAt = t.last + int64(t.opt.Idle)
	}
	switch {
	case idleAt > 0 && idleAt <= now && (t.halfAt == 0 || idleAt <= t.halfAt):
		t.end(IdleTimeout, nil)
	case t.halfAt > 0 && t.halfAt <= now:
		t.stop(HalfCloseTimeout, nil)
	default:
		if due := t.nextDue(); due > 0 {
			t.drv.setTimer(t, due)
		}
	}
}

// fail tears the tunnel down for a read or write error.
func (t *loopTunnel) fail(err error) {
	r := ClientError
	if le, ok := err.(*legError); ok && le.side == sideBackend {
		r = BackendError
	}
	t.stop(r, err)
}

// stop ends the tunnel: both sockets closed, pipes and buffers returned,
// the loop forgets it, and done gets the Result (on the loop: it must not block).
func (t *loopTunnel) stop(r Reason, err error) {
	t.stopped = true
	t.reason, t.err = r, err
	if t.stopAbort != nil {
		t.stopAbort()
	}
	ending := t.endingResult()
	for _, l := range [2]*loopLeg{&t.up, &t.down} {
		if l.pipe != nil {
			t.e.pipes.put(l.pipe, l.inPipe == 0)
			l.pipe, l.inPipe = nil, 0
		}
	}
	t.client.close()
	t.backend.close()

	res := Result{Up: t.up.written(), Down: t.down.written(), Spliced: t.up.spliced || t.down.spliced,
		Ending: ending}
	if t.upgraded() {
		res.FramingErr = t.wsErr // not for a tunnel that never upgraded
	}
	if t.clean == 2 {
		res.Reason = t.firstClean
	} else {
		res.Reason, res.Err = t.reason, t.err
	}
	t.drv.ended(t, res)
}
