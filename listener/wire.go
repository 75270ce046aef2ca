package listener

import (
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/netip"
	"os"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tether-proxy/tether/proxyproto"
	"github.com/tether-proxy/tether/splice"
	"github.com/tether-proxy/tether/upstream"
)

// wire is how the pipeline's steps (conn.go) reach a connection's sockets. There are two: a
// connection served by a goroutine (netWire) blocks in each call until it is done or the
// step's deadline passes; a connection set up on an event loop (loopWire) never blocks, and a
// call that would returns errPending: the step returns, and the loop runs the pipeline again
// from that step when a socket is ready, the timer fires or the context ends. The steps are
// written once, to resume where they stopped, and serve both.
type wire interface {
	// interruptOn makes a drain or stop (ctx's end) interrupt the step in progress.
	interruptOn(ctx context.Context)
	// setDeadline bounds the calls that follow, d from now (0: no bound); when it passes they
	// return an error wrapping os.ErrDeadlineExceeded.
	setDeadline(d time.Duration)

	// peek returns the client's first bytes without consuming them, once there are more than
	// seen of them; io.EOF when the client closed before sending more.
	peek(p []byte, seen int) (int, error)
	read(p []byte) (int, error)
	write(p []byte) (int, error)
	closeWrite()
	// localAddr is the address the client connected to.
	localAddr() netip.AddrPort
	// handshakeTLS terminates TLS on the client socket (goroutines only: TLS listeners are
	// not set up on the loop).
	handshakeTLS(s *Server, rt *route) (*tls.ConnectionState, string, error)

	// dial connects (or starts connecting) to peer from src for one try of a walk;
	// connected reports the outcome.
	dial(ctx context.Context, rt *route, peer *upstream.Peer, src netip.Addr) error
	connected() (bool, error)
	// backendConn is the backend connection for the Lease, or nil.
	backendConn() net.Conn
	dropBackend()
	writeBackend(a, b []byte) (int, error)
	// backendAnswered reports whether the backend sent a byte or closed (nothing is read).
	backendAnswered() (bool, error)

	// tunnel hands both sockets to the engine; done gets the tunnel's Result.
	tunnel(ctx context.Context, e *splice.Engine, opt splice.Options, done func(splice.Result))
	// close closes both sockets, the client's with a reset when asked.
	close(reset bool)
}

// errPending is a loopWire's answer when a call would block.
var errPending = splice.ErrWouldBlock

// netWire is the wire of a connection served by a goroutine: blocking calls on the *net.TCPConn
// the listener accepted (and the *tls.Conn over it), bounded by deadlines.
type netWire struct {
	raw     *net.TCPConn
	conn    net.Conn // raw, or the TLS connection over it
	backend net.Conn
	stop    func() bool // unregisters interruptOn
	ctx     context.Context
}

var _ wire = (*netWire)(nil)

func (w *netWire) interruptOn(ctx context.Context) {
	w.ctx = ctx
	raw := w.raw
	w.stop = context.AfterFunc(ctx, func() { raw.SetDeadline(aLongTimeAgo) })
}

func (w *netWire) setDeadline(d time.Duration) {
	t := time.Time{}
	switch {
	case w.ctx != nil && w.ctx.Err() != nil:
		t = aLongTimeAgo // interrupted already: keep it so
	case d > 0:
		t = time.Now().Add(d)
	}
	w.raw.SetDeadline(t)
	if w.backend != nil {
		w.backend.SetDeadline(t)
	}
}

func (w *netWire) peek(p []byte, seen int) (int, error) {
	rc, err := w.raw.SyscallConn()
	if err != nil {
		return 0, err
	}
	var n int
	var perr error
	err = rc.Read(func(fd uintptr) bool {
		m, _, rerr := unix.Recvfrom(int(fd), p, unix.MSG_PEEK|unix.MSG_DONTWAIT)
		switch {
		case rerr == unix.EAGAIN || rerr == unix.EINTR:
			return false
		case rerr != nil:
			perr = os.NewSyscallError("recvfrom", rerr)
			return true
		case m == 0:
			perr = io.EOF
			return true
		}
		n = m
		if m <= seen && m < len(p) && !proxyproto.PeerClosed(fd) {
			return false // nothing new: wait for more
		}
		if m <= seen {
			perr = io.EOF // the peer closed: nothing more will come
		}
		return true
	})
	if err == nil {
		err = perr
	}
	return n, err
}

func (w *netWire) read(p []byte) (int, error)  { return blocking(w.conn.Read(p)) }
func (w *netWire) write(p []byte) (int, error) { return blocking(w.conn.Write(p)) }

// blocking maps a would-block error (a *tls.Conn over a transport the event loop could
// detach) to the deadline error it stands for: a goroutine's calls never leave a step pending.
func blocking(n int, err error) (int, error) {
	if err == errPending {
		err = os.ErrDeadlineExceeded
	}
	return n, err
}

func (w *netWire) closeWrite() {
	if cw, ok := w.conn.(interface{ CloseWrite() error }); ok {
		cw.CloseWrite()
	}
}

func (w *netWire) localAddr() netip.AddrPort { return w.raw.LocalAddr().(*net.TCPAddr).AddrPort() }

func (w *netWire) handshakeTLS(s *Server, rt *route) (*tls.ConnectionState, string, error) {
	tc, reason, err := s.handshakeTLS(rt, w.raw)
	if err != nil {
		return nil, reason, err
	}
	st := tc.ConnectionState()
	w.conn = tc
	return &st, "", nil
}

func (w *netWire) dial(ctx context.Context, rt *route, peer *upstream.Peer, src netip.Addr) error {
	conn, err := rt.pool.Dial(ctx, rt.dialer, peer, src)
	if err != nil {
		return err
	}
	w.backend = conn
	return nil
}

func (w *netWire) connected() (bool, error) { return w.backend != nil, nil }
func (w *netWire) backendConn() net.Conn    { return w.backend }

func (w *netWire) dropBackend() {
	if w.backend != nil {
		w.backend.Close()
		w.backend = nil
	}
}

func (w *netWire) writeBackend(a, b []byte) (int, error) {
	bufs := net.Buffers{a, b}
	n, err := bufs.WriteTo(w.backend)
	return int(n), err
}

func (w *netWire) backendAnswered() (bool, error) {
	sc, ok := w.backend.(syscall.Conn)
	if !ok {
		return true, nil // nothing to peek at (not a socket)
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return false, err
	}
	var one [1]byte
	err = rc.Read(func(fd uintptr) bool {
		_, _, err := unix.Recvfrom(int(fd), one[:], unix.MSG_PEEK|unix.MSG_DONTWAIT)
		return err != unix.EAGAIN // bytes, the end of the stream or an error: the tunnel sees it
	})
	return err == nil, err
}

func (w *netWire) tunnel(ctx context.Context, e *splice.Engine, opt splice.Options, done func(splice.Result)) {
	w.stopInterrupt()
	w.raw.SetDeadline(time.Time{})
	w.backend.SetDeadline(time.Time{})
	e.Start(ctx, w.conn, w.backend, opt, done)
}

func (w *netWire) close(reset bool) {
	w.stopInterrupt()
	w.dropBackend()
	if reset {
		w.raw.SetLinger(0)
		w.raw.Close()
		return
	}
	w.conn.Close()
}

func (w *netWire) stopInterrupt() {
	if w.stop != nil {
		w.stop()
		w.stop = nil
	}
}
