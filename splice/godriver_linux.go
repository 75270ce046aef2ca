//go:build linux

package splice

import (
	"context"
	"net"
	"os"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// goDriver runs a loopTunnel on two goroutines, one per direction, instead
// of an event loop (ModeGoroutines): the same state machine and the same
// bursts, with the waits done in the Go netpoller. Each goroutine pumps its
// own direction under the driver's mutex, then waits, without the mutex, for
// what that direction needs next: its source readable (a one-byte
// MSG_PEEK, holding nothing) or its destination writable. The sockets stay
// owned by their conns, so closing them wakes a waiting goroutine.
type goDriver struct {
	t    *loopTunnel
	mu   sync.Mutex // guards t and its endpoints
	base time.Time
	buf  *[]byte // the read buffer, borrowed for one pump

	timer   *time.Timer
	running int    // direction goroutines not yet returned
	res     Result // set when the tunnel stopped

	up, down goLeg
}

// goLeg is one direction's goroutine state.
type goLeg struct {
	g               *goDriver
	l               *loopLeg
	readFn, writeFn func(uintptr) bool // bound once: closures per wait would allocate
	peekN           int                // result of the readiness peek
	peekErr         error              // the socket error the peek consumed (a reset)
}

var _ driver = (*goDriver)(nil)

// startGoroutines runs t (endpoints attached) on two goroutines; done gets
// the Result once both have returned.
func (e *Engine) startGoroutines(ctx context.Context, client, backend net.Conn, opt Options, done func(Result)) bool {
	if !detachable(client) || !detachable(backend) {
		return false
	}
	t := &loopTunnel{e: e, ctx: ctx, opt: opt, done: done}
	if t.client.attach(client, sideClient, &e.bufs) != nil || t.backend.attach(backend, sideBackend, &e.bufs) != nil {
		return false // nothing changed yet: the conns still work as they were
	}
	t.client.bind()
	t.backend.bind()
	t.wireLegs()
	g := &goDriver{t: t, base: time.Now(), running: 2}
	t.drv = g
	g.up.init(g, &t.up)
	g.down.init(g, &t.down)
	g.mu.Lock()
	t.start(0)
	g.mu.Unlock()
	go g.copyClientToBackend()
	go g.copyBackendToClient()
	return true
}

func (gl *goLeg) init(g *goDriver, l *loopLeg) {
	gl.g, gl.l = g, l
	gl.readFn, gl.writeFn = gl.waitReadable, gl.waitWritable
}

// copyClientToBackend runs the client->backend direction.
func (g *goDriver) copyClientToBackend() { g.up.run() }

// copyBackendToClient runs the backend->client direction.
func (g *goDriver) copyBackendToClient() { g.down.run() }

// run pumps the direction and waits until it is done or the tunnel stopped.
func (gl *goLeg) run() {
	g, t, l := gl.g, gl.g.t, gl.l
	defer g.exit()
	for {
		g.mu.Lock()
		if t.stopped || l.done {
			g.mu.Unlock()
			return
		}
		bp := t.e.bufs.get()
		g.buf = bp
		more := t.pumpLeg(l)
		g.buf = nil
		t.e.bufs.put(bp)
		if !t.stopped && t.up.done && t.down.done {
			t.stop(ReasonUnknown, nil)
		}
		if t.stopped || l.done {
			g.mu.Unlock()
			return
		}
		waitDst := l.dst.pending() > 0 || l.inPipe > 0
		src, dst := l.src, l.dst
		g.mu.Unlock()
		switch {
		case more:
			continue
		case waitDst:
			_ = dst.rc.Write(gl.writeFn)
			g.mu.Lock()
			dst.writable = true
			g.mu.Unlock()
		default: // the source would block
			gl.peekN, gl.peekErr = 1, nil
			_ = src.rc.Read(gl.readFn)
			g.mu.Lock()
			switch {
			case gl.peekErr != nil:
				// The peek consumed the socket's pending error (a reset):
				// a read now would say EOF, so report the error itself.
				if !t.stopped {
					t.fail(&legError{side: src.side, op: "read", err: os.NewSyscallError("recvfrom", gl.peekErr)})
				}
			case gl.peekN == 0:
				src.readable, src.hup = true, true
			default:
				src.readable = true
			}
			g.mu.Unlock()
		}
		// An error from a wait means the conn was closed: the next round sees
		// the tunnel stopped.
	}
}

// waitReadable is the readiness check of the source: a non-blocking
// one-byte MSG_PEEK; park only on EAGAIN.
func (gl *goLeg) waitReadable(fd uintptr) bool {
	for {
		n, err := peek(int(fd))
		switch err {
		case nil:
			gl.peekN = n
			return true
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			return false
		default:
			gl.peekErr = err
			return true
		}
	}
}

// waitWritable checks that the destination has room, parking until it does.
func (gl *goLeg) waitWritable(fd uintptr) bool {
	fds := [1]unix.PollFd{{Fd: int32(fd), Events: unix.POLLOUT}}
	for {
		n, err := unix.Poll(fds[:], 0)
		if err == unix.EINTR {
			continue
		}
		return err != nil || (n > 0 && fds[0].Revents != 0)
	}
}

// exit is deferred by each direction goroutine; the last one delivers the
// Result.
func (g *goDriver) exit() {
	g.mu.Lock()
	g.running--
	last := g.running == 0
	if last && !g.t.stopped {
		// Both directions returned without stopping the tunnel: cannot
		// happen (a direction returns only when done or stopped), but never
		// leak the sockets.
		g.t.stop(ReasonUnknown, nil)
	}
	res, done := g.res, g.t.done
	g.mu.Unlock()
	if last {
		done(res)
	}
}

func (g *goDriver) now() int64        { return int64(time.Since(g.base)) }
func (g *goDriver) scratch() []byte   { return *g.buf }
func (g *goDriver) again(*loopTunnel) {}

func (g *goDriver) setTimer(t *loopTunnel, due int64) {
	d := time.Duration(max(due-g.now(), 1))
	if g.timer == nil {
		g.timer = time.AfterFunc(d, g.onTimer)
		return
	}
	g.timer.Reset(d)
}

func (g *goDriver) onTimer() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.t.stopped {
		g.t.onTimer(g.now())
	}
}

func (g *goDriver) abortOn(t *loopTunnel) func() bool {
	return context.AfterFunc(t.ctx, func() {
		g.mu.Lock()
		defer g.mu.Unlock()
		if !t.stopped {
			t.end(Aborted, context.Cause(t.ctx))
		}
	})
}

// ended keeps the Result for the last goroutine to deliver; the sockets are
// closed already, which wakes a goroutine waiting on them.
func (g *goDriver) ended(t *loopTunnel, res Result) {
	g.res = res
	if g.timer != nil {
		g.timer.Stop()
	}
}
