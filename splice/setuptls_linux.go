//go:build linux

package splice

import (
	"crypto/tls"
	"io"
	"net"
	"os"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// A TLS handshake of a connection set up on an event loop runs on a goroutine, because
// crypto/tls blocks in Read and Write; the socket stays the loop's. The goroutine reads and
// writes it without blocking and, when it would block, waits for the loop to pass on the next
// readiness edge. The loop also passes on its timer and its context: either ends the handshake.
// So the socket never enters Go's netpoller, and the tunnel starts on it with no hand-over.

// Handshake states, moved from hsRunning by whichever side comes first.
const (
	hsRunning  int32 = iota
	hsFinished       // the goroutine is done; the loop is told (opHandshake)
	hsOrphaned       // the setup closed first: the goroutine closes the socket when done
)

// loopHandshake is the goroutine's side of a Setup.StartTLS handshake.
type loopHandshake struct {
	fd    int
	wake  chan struct{} // a token whenever the loop saw news for the handshake
	stop  atomic.Bool   // the setup's timer fired or its context ended
	state atomic.Int32
	err   error // the handshake's outcome, written before state leaves hsRunning
}

var _ handshakeIO = (*loopHandshake)(nil)

// errHandshakeStopped ends a handshake the loop stopped (timer or context). It is a timeout,
// so the caller can tell it from a client's failure.
var errHandshakeStopped = &os.SyscallError{Syscall: "tls handshake", Err: os.ErrDeadlineExceeded}

// poke passes news on to the goroutine; one token is enough, it rereads the socket.
func (h *loopHandshake) poke() {
	select {
	case h.wake <- struct{}{}:
	default:
	}
}

func (h *loopHandshake) read(p []byte) (int, error) {
	for {
		if h.stop.Load() {
			return 0, errHandshakeStopped
		}
		n, err := rawRead(h.fd, p)
		switch {
		case err == unix.EAGAIN:
			<-h.wake
		case err == unix.EINTR:
		case err != nil:
			return 0, os.NewSyscallError("read", err)
		case n == 0 && len(p) > 0:
			return 0, io.EOF
		default:
			return n, nil
		}
	}
}

func (h *loopHandshake) write(p []byte) (int, error) {
	written := 0
	for written < len(p) {
		if h.stop.Load() {
			return written, errHandshakeStopped
		}
		n, err := writeFD(h.fd, p[written:])
		written += n
		switch {
		case err == unix.EAGAIN:
			<-h.wake
		case err != nil:
			return written, os.NewSyscallError("write", err)
		}
	}
	return written, nil
}

// HelloArrived reports whether the client's first TLS record has fully arrived (see
// tlsterm.HelloArrived, which test is passed in): a setup waits for it on the loop, holding no
// handshake slot and no goroutine.
func (s *Setup) HelloArrived(test func(fd int) (bool, error)) (bool, error) {
	return test(s.t.client.fd)
}

// StartTLS begins the server side of a TLS handshake with cfg on the client socket. It runs in
// the function spawn is given (on a goroutine of the caller's), while the socket stays on the
// loop: the loop passes readiness on to it, and the setup's timer and context end it. When it
// has ended, the handler is advanced and TLS reports the outcome; the handler is not advanced
// meanwhile.
func (s *Setup) StartTLS(cfg *tls.Config, spawn func(func())) {
	h := &loopHandshake{fd: s.t.client.fd, wake: make(chan struct{}, 1)}
	// Nothing in the handshake asks for the local address (only a GetCertificate could), so it
	// costs a getsockname only then; it reads the socket itself, not the setup's cache, which
	// the loop owns.
	fd := h.fd
	local := func() net.Addr {
		var sa rawSockaddr
		if rawGetsockname(fd, &sa) != nil {
			return nil
		}
		return net.TCPAddrFromAddrPort(sa.addrPort())
	}
	tr := &transport{hs: h, remote: net.TCPAddrFromAddrPort(s.remote), local: local}
	s.hs, s.tls, s.tlsTr, s.tlsErr = h, tls.Server(tr, cfg), tr, nil
	tc, lp, t := s.tls, s.lp, s.t
	spawn(func() {
		h.err = tc.Handshake()
		if h.state.CompareAndSwap(hsRunning, hsFinished) {
			lp.post(t, opHandshake)
			return
		}
		rawClose(h.fd) // the setup closed meanwhile and left the socket to the handshake
	})
}

// TLS reports the handshake StartTLS began: done once it has ended, with its error. After a
// successful one, Read, Write, CloseWrite and the tunnel go through tc.
func (s *Setup) TLS() (tc *tls.Conn, done bool, err error) {
	if s.tls == nil || s.hs != nil {
		return nil, false, nil
	}
	return s.tls, true, s.tlsErr
}

// handshakeEnded is the loop's side of a handshake's end (opHandshake): a successful one makes
// the client endpoint a TLS one, then the handler goes on.
func (s *Setup) handshakeEnded() {
	h := s.hs
	s.hs, s.tlsErr = nil, h.err
	ep := &s.t.client
	if h.err == nil {
		ep.tls, ep.tr = s.tls, s.tlsTr
		s.tlsTr.hs, s.tlsTr.ep = nil, ep
		ep.readable, ep.writable = true, true // the edges went to the handshake
	}
	s.advance()
}

// handshakeNews passes what the loop saw (readiness, the timer, the context's end) on to a
// running handshake.
func (s *Setup) handshakeNews() {
	if s.expired || s.Aborted() {
		s.hs.stop.Store(true)
	}
	s.hs.poke()
}

// orphanHandshake leaves the client socket to a running handshake when the setup closes first:
// off the loop's epoll now, closed by the handshake's goroutine when it returns. It reports
// whether it did.
func (s *Setup) orphanHandshake() bool {
	h := s.hs
	if h == nil || !h.state.CompareAndSwap(hsRunning, hsOrphaned) {
		return false
	}
	_ = rawEpollDel(s.lp.epfd, h.fd)
	s.t.client.fd = -1
	h.stop.Store(true)
	h.poke()
	return true
}
