package listener

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"sync"
	"time"

	"github.com/tether-proxy/tether/splice"
	"github.com/tether-proxy/tether/tlsterm"
	"github.com/tether-proxy/tether/upstream"
)

// Listeners on the event-loop engine accept and set their connections up on the event loops:
// the loop accepts (accept4), the pipeline of conn.go runs over a loopWire whenever the loop
// has news for the connection, and the connection becomes a tunnel on the same loop. No
// goroutine, netpoller registration or hand-over per connection. A TLS handshake runs on a
// worker (crypto/tls blocks) once the ClientHello has arrived, over the loop's socket (see
// splice.Setup.StartTLS); the steps after it run on the loop again.

// loopWire is the wire of a connection set up on an event loop: non-blocking calls on a
// *splice.Setup. A call that would block returns errPending; once the step's timer fired or
// the context ended, calls return os.ErrDeadlineExceeded, as a goroutine's would.
type loopWire struct {
	s         *splice.Setup
	helloWait bool // terminateTLS waits for the ClientHello
}

var _ wire = (*loopWire)(nil)

// Advance makes a setup the loop's handler of its connection.
func (c *setup) Advance(*splice.Setup) { c.advance() }

// stopped reports why calls fail now, if they do.
func (w *loopWire) stopped() error {
	if w.s.Aborted() || w.s.Expired() {
		return os.ErrDeadlineExceeded
	}
	return nil
}

func (w *loopWire) interruptOn(ctx context.Context) { w.s.SetContext(ctx) }
func (w *loopWire) setDeadline(d time.Duration)     { w.s.SetTimer(d) }

func (w *loopWire) peek(p []byte, seen int) (int, error) {
	if err := w.stopped(); err != nil {
		return 0, err
	}
	n, err := w.s.Peek(p)
	switch {
	case err != nil:
		return 0, err
	case n > seen || n == len(p):
		return n, nil
	case w.s.ClientClosed():
		return n, io.EOF
	}
	return n, errPending
}

func (w *loopWire) read(p []byte) (int, error) {
	if err := w.stopped(); err != nil {
		return 0, err
	}
	return w.s.Read(p)
}

func (w *loopWire) write(p []byte) (int, error) {
	if err := w.stopped(); err != nil {
		return 0, err
	}
	return w.s.Write(p)
}

func (w *loopWire) closeWrite()               { w.s.CloseWrite() }
func (w *loopWire) localAddr() netip.AddrPort { return w.s.LocalAddr() }

// handshakeTLS waits on the loop, within the handshake timeout and holding no handshake slot,
// until the ClientHello has arrived; then it takes a slot and runs the handshake on a worker.
// The step resumes when the handshake ended.
func (w *loopWire) handshakeTLS(s *Server, rt *route) (*tls.ConnectionState, string, error) {
	if tc, done, err := w.s.TLS(); done {
		w.s.SetTimer(0)
		if err != nil {
			return nil, "tls handshake", fmt.Errorf("tls handshake with %s: %w", w.s.RemoteAddr(), err)
		}
		st := tc.ConnectionState()
		return &st, "", nil
	}
	if !w.helloWait {
		w.helloWait = true
		w.s.SetTimer(rt.cfg.Timeouts.Handshake)
	}
	if err := w.stopped(); err != nil {
		return nil, "tls handshake", fmt.Errorf("await ClientHello from %s: %w", w.s.RemoteAddr(), err)
	}
	if arrived, err := w.s.HelloArrived(tlsterm.HelloArrived); err != nil || !arrived {
		switch {
		case err != nil:
		case w.s.ClientClosed(): // part of a ClientHello, then the end: the rest never comes
			err = tlsterm.ErrClosedBeforeHello
		default:
			err = errPending
		}
		return nil, "tls handshake", err
	}
	release, err := s.takeHandshakeSlot()
	if err != nil {
		return nil, "max_handshakes", err
	}
	start := time.Now()
	w.s.StartTLS(rt.tls.Config(), func(handshake func()) {
		s.spawn(func() {
			handshake()
			release()
			rt.metrics.handshake.UpdateDuration(start)
		})
	})
	return nil, "", errPending
}

func (w *loopWire) dial(_ context.Context, _ *route, peer *upstream.Peer, src netip.Addr) error {
	if err := w.stopped(); err != nil {
		return err
	}
	return w.s.Dial(peer.Addr, src, &backendKeepAlive)
}

func (w *loopWire) connected() (bool, error) {
	if ok, err := w.s.Connected(); ok || err != nil {
		return ok, err
	}
	if err := w.stopped(); err != nil {
		return false, err // the connect timeout, or a drain
	}
	return false, nil
}

func (w *loopWire) backendConn() net.Conn { return nil }
func (w *loopWire) dropBackend()          { w.s.DropBackend() }

func (w *loopWire) writeBackend(a, b []byte) (int, error) {
	if err := w.stopped(); err != nil {
		return 0, err
	}
	return w.s.WriteBackend(a, b)
}

func (w *loopWire) backendAnswered() (bool, error) {
	if w.s.BackendAnswered() {
		return true, nil
	}
	return false, w.stopped()
}

func (w *loopWire) tunnel(_ context.Context, _ *splice.Engine, opt splice.Options, done func(splice.Result)) {
	w.s.Tunnel(opt, done)
}

func (w *loopWire) close(reset bool) { w.s.Close(reset) }

// acceptOnLoop serves l's socket on the engine's event loops when it can: a plain listener on
// the event-loop engine. It reports whether it does.
func (s *Server) acceptOnLoop(l *listener) bool {
	tl, ok := l.ln.(*net.TCPListener)
	if !ok || !s.engine.CanAccept() {
		return false
	}
	rc, err := tl.SyscallConn()
	if err != nil {
		return false
	}
	var a *splice.Acceptor
	rc.Control(func(fd uintptr) {
		if err = setListenerNoDelay(int(fd)); err == nil {
			a, err = s.engine.Accept(int(fd), l.acceptedOnLoop, l.acceptFailed)
		}
	})
	if err != nil {
		s.log.Warn("accepting on a goroutine: the event loops cannot accept", "listener", l.rt.Load().cfg.Name, "err", err)
		return false
	}
	l.loop.acceptor = a
	return true
}

// acceptedOnLoop is the loop's AcceptFunc for l: shedding under overload, then the pipeline.
func (l *listener) acceptedOnLoop(cs *splice.Setup) splice.SetupHandler {
	s := l.srv
	if reason, value, limit := s.shed.check(); reason != "" {
		s.shedRefused(l.rt.Load(), net.TCPAddrFromAddrPort(cs.RemoteAddr()), reason, value, limit)
		return nil // closed with a reset
	}
	s.handlers.Add(1)
	s.active.Add(1)
	if l.setKeepAlive {
		cs.SetClientKeepAlive(backendKeepAlive)
	}
	return newSetup(l.newSessionFrom(cs.RemoteAddr()), &loopWire{s: cs})
}

// acceptFailed is told by the loops of accept errors (they pause accepting meanwhile): counted,
// logged at most every acceptLogEvery, and with descriptors short a waiting client is refused
// at once with the spare descriptor, as acceptLoop does.
func (l *listener) acceptFailed(err error) {
	s := l.srv
	s.acceptErr.Inc()
	if isFDShortage(err) && s.shed.refuseQueued(l.ln) {
		s.shedRefused(l.rt.Load(), nil, upstream.ReasonNoFD, 0, nofileLimit())
		return
	}
	lg := &l.loop.log
	lg.Lock()
	defer lg.Unlock()
	if lg.failed++; time.Since(lg.last) >= acceptLogEvery {
		s.log.Error("accept failed", "listener", l.rt.Load().cfg.Name, "err", err, "failures", lg.failed)
		lg.last, lg.failed = time.Now(), 0
	}
}

// loopAccepting is a listener's accepting on the event loops.
type loopAccepting struct {
	acceptor *splice.Acceptor // nil: not accepting on the loops
	log      struct {         // throttles acceptFailed's log lines
		sync.Mutex
		last   time.Time
		failed int
	}
}

// stopLoopAccepting stops the loops accepting on l's socket, before it is closed.
func (l *listener) stopLoopAccepting() {
	if a := l.loop.acceptor; a != nil {
		a.Close()
		l.loop.acceptor = nil
	}
}
