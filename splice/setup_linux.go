//go:build linux

package splice

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net/netip"
	"os"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// Connection setup on the event loop. A loop can accept connections on a listening socket and
// drive each through its setup (reading a PROXY header and a request head, connecting to a
// backend, writing a preface) with non-blocking system calls and its timer heap, then turn it
// into a tunnel in place: no goroutine per connection, no registration with the Go netpoller,
// no hand-over. The steps themselves belong to the caller (package listener): the loop only
// reports readiness, timers and cancellation to a SetupHandler, which makes non-blocking calls
// on the Setup and returns.

// ErrWouldBlock is returned by a Setup's calls when the socket has nothing to give or take
// now: the handler returns, and the loop calls it again when there is news.
var ErrWouldBlock error = errWouldBlock

// AcceptFunc is called on an event loop for each connection it accepted. It returns the
// handler that sets the connection up, or nil when the connection is refused: the loop then
// closes it with a reset.
type AcceptFunc func(s *Setup) SetupHandler

// SetupHandler sets one connection up on an event loop.
type SetupHandler interface {
	// Advance is called once the connection is accepted, and again whenever one of its
	// sockets becomes ready, its timer fires or its context ends, until the handler closes
	// the Setup or turns it into a tunnel. It runs on the loop: it must not block.
	Advance(s *Setup)
}

// Setup is one connection being set up on an event loop: the client socket the loop accepted
// and, once dialled, a backend socket. Its methods are for its handler only, inside Advance.
type Setup struct {
	t       *loopTunnel
	lp      *loop
	h       SetupHandler
	remote  netip.AddrPort
	local   netip.AddrPort // read on first use
	expired bool           // the timer fired since SetTimer
	dialing bool           // a connect is in progress on the backend socket

	// A TLS handshake (StartTLS, setuptls_linux.go).
	hs     *loopHandshake // while it runs
	tls    *tls.Conn
	tlsTr  *transport
	tlsErr error
}

// CanAccept reports whether the Engine's event loops can accept and set up connections
// (Accept): on Linux, in ModeEventLoop, while the loops can be created.
func (e *Engine) CanAccept() bool {
	if !e.loops.enabled() {
		return false
	}
	return e.loops.prestart(e) == nil && !e.loops.failed.Load()
}

// Acceptor is a listening socket served by an Engine's event loops.
type Acceptor struct {
	mu       sync.Mutex // one loop accepts at a time: onError may lend the socket a spare descriptor
	fd       int
	accept   AcceptFunc
	onError  func(error)
	loops    []*loop
	released sync.WaitGroup // loops still using fd
}

// maxAcceptsPerWake bounds the connections one loop accepts per readiness report, so that a
// flood of connects cannot starve its tunnels; the socket stays readable (level-triggered) and
// the loop comes back to it in its next round.
const maxAcceptsPerWake = 64

// Accept serves the listening socket fd with every event loop: each accepts with accept4(2)
// when the socket is readable (the kernel wakes one loop per connection: EPOLLEXCLUSIVE) and
// hands each connection to accept. onError is told (on the loop) of accept errors other than
// a connection that went away, such as running out of file descriptors; the loop then stops
// accepting for a moment. The caller keeps owning fd: Close the Acceptor before closing it.
func (e *Engine) Accept(fd int, accept AcceptFunc, onError func(error)) (*Acceptor, error) {
	ls := &e.loops
	if !ls.enabled() {
		return nil, errors.New("splice: no event loops to accept on")
	}
	ls.mu.Lock()
	defer ls.mu.Unlock()
	if err := ls.ensureLocked(e); err != nil {
		return nil, err
	}
	a := &Acceptor{fd: fd, accept: accept, onError: onError, loops: ls.loops}
	a.released.Add(len(a.loops))
	for _, lp := range a.loops {
		lp.postAcceptor(a, opListen)
	}
	return a, nil
}

// Close stops every loop from accepting on the socket and returns once none uses it any more.
// Connections already accepted go on.
func (a *Acceptor) Close() {
	for _, lp := range a.loops {
		lp.postAcceptor(a, opUnlisten)
	}
	a.released.Wait()
}

// listen registers a on the loop.
func (lp *loop) listen(a *Acceptor) {
	idx := len(lp.acceptors)
	for i, x := range lp.acceptors {
		if x == nil {
			idx = i
			break
		}
	}
	if idx == len(lp.acceptors) {
		lp.acceptors = append(lp.acceptors, nil)
	}
	lp.acceptors[idx] = a
	lp.listening++
	if lp.acceptPaused == 0 {
		lp.watchAcceptor(idx)
	}
}

// watchAcceptor adds acceptor idx to the loop's epoll set: level-triggered, exclusive.
func (lp *loop) watchAcceptor(idx int) {
	ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLEXCLUSIVE, Fd: acceptorEventFD(idx)}
	if err := rawEpollAdd(lp.epfd, lp.acceptors[idx].fd, &ev); err != nil && lp.acceptors[idx].onError != nil {
		lp.acceptors[idx].onError(os.NewSyscallError("epoll_ctl", err))
	}
}

// acceptorEventFD is the epoll event data of acceptor idx: below -1 (-1 is the wake-up fd,
// 0 and up are tunnel slots).
func acceptorEventFD(idx int) int32 { return int32(-2 - idx) }

// unlisten removes a from the loop and releases it.
func (lp *loop) unlisten(a *Acceptor) {
	for i, x := range lp.acceptors {
		if x == a {
			if lp.acceptPaused == 0 {
				_ = rawEpollDel(lp.epfd, a.fd) // with EPOLLEXCLUSIVE only ADD and DEL are allowed
			}
			lp.acceptors[i] = nil
			lp.listening--
		}
	}
	a.released.Done()
}

// acceptOn accepts what acceptor idx has queued, up to maxAcceptsPerWake.
func (lp *loop) acceptOn(idx int) {
	a := lp.acceptors[idx]
	if a == nil || lp.acceptPaused != 0 {
		return
	}
	for range maxAcceptsPerWake {
		var sa rawSockaddr
		fd, err := a.acceptOne(&sa)
		switch err {
		case nil:
			lp.acceptBackoff = 0
			lp.startSetup(a, fd, sa.addrPort())
			continue
		case unix.EAGAIN:
			return
		case unix.ECONNABORTED, unix.EPERM, unix.EPROTO:
			continue // that connection went away (or a firewall refused it): the next one
		}
		lp.pauseAccepting()
		return
	}
}

// acceptOne accepts one connection; an error other than a lost connection goes to onError
// before another loop may accept (onError may lend the socket a descriptor it freed).
func (a *Acceptor) acceptOne(sa *rawSockaddr) (int, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	fd, err := rawAccept4(a.fd, sa)
	switch err {
	case nil, unix.EAGAIN, unix.ECONNABORTED, unix.EPERM, unix.EPROTO:
	default:
		if a.onError != nil {
			a.onError(os.NewSyscallError("accept4", err))
		}
	}
	return fd, err
}

// Accept back-off after an error such as EMFILE: the listening socket stays readable, so the
// loop stops watching it for a while instead of spinning.
const (
	minAcceptBackoff = 5 * time.Millisecond
	maxAcceptBackoff = 250 * time.Millisecond
)

// pauseAccepting stops watching every acceptor until the back-off has passed.
func (lp *loop) pauseAccepting() {
	lp.acceptBackoff = min(max(2*lp.acceptBackoff, minAcceptBackoff), maxAcceptBackoff)
	lp.acceptPaused = max(lp.clock+int64(lp.acceptBackoff), 1)
	for _, a := range lp.acceptors {
		if a != nil {
			_ = rawEpollDel(lp.epfd, a.fd)
		}
	}
}

// resumeAccepting watches the acceptors again once their back-off has passed.
func (lp *loop) resumeAccepting() {
	if lp.acceptPaused == 0 || lp.clock < lp.acceptPaused {
		return
	}
	lp.acceptPaused = 0
	for i, a := range lp.acceptors {
		if a != nil {
			lp.watchAcceptor(i)
		}
	}
}

// startSetup takes an accepted socket onto the loop and hands it to its acceptor's handler.
func (lp *loop) startSetup(a *Acceptor, fd int, remote netip.AddrPort) {
	t := &loopTunnel{e: lp.e, drv: lp, ctx: context.Background(), hidx: -1}
	t.client = endpoint{fd: fd, side: sideClient, pool: &lp.e.bufs, readable: true, writable: true}
	t.backend = endpoint{fd: -1, side: sideBackend, pool: &lp.e.bufs}
	s := &Setup{t: t, lp: lp, remote: remote}
	t.setup = s
	lp.place(t)
	lp.ls.count.Add(1)
	ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLOUT | unix.EPOLLRDHUP | unix.EPOLLET, Fd: t.slot, Pad: int32(sideClient)}
	if err := rawEpollAdd(lp.epfd, fd, &ev); err != nil {
		s.Close(true)
		return
	}
	if s.h = a.accept(s); s.h == nil {
		s.Close(true)
		return
	}
	s.h.Advance(s)
}

// advance calls the handler, unless the setup has ended.
func (s *Setup) advance() {
	switch {
	case s.t.stopped || s.t.setup != s:
	case s.hs != nil:
		s.handshakeNews() // the handler waits for the handshake's end
	default:
		s.h.Advance(s)
	}
}

// RemoteAddr is the client's address, as accept4 reported it.
func (s *Setup) RemoteAddr() netip.AddrPort { return s.remote }

// LocalAddr is the address the client connected to (getsockname, on first use).
func (s *Setup) LocalAddr() netip.AddrPort {
	if !s.local.IsValid() {
		var sa rawSockaddr
		if rawGetsockname(s.t.client.fd, &sa) == nil {
			s.local = sa.addrPort()
		}
	}
	return s.local
}

// SetContext ties the setup (and the tunnel it becomes) to ctx: when ctx ends, the handler is
// called and Aborted reports true.
func (s *Setup) SetContext(ctx context.Context) {
	s.t.ctx = ctx
	if ctx.Done() != nil {
		s.t.stopAbort = s.lp.abortOn(s.t)
	}
}

// Aborted reports whether the setup's context has ended.
func (s *Setup) Aborted() bool { return s.t.ctx.Err() != nil }

// SetTimer arms the setup's one timer d from now (d <= 0 disarms it); Expired reports it fired.
func (s *Setup) SetTimer(d time.Duration) {
	s.expired = false
	if d <= 0 {
		s.lp.timers.remove(s.t)
		return
	}
	s.lp.timers.set(s.t, s.lp.clock+int64(d))
}

// Expired reports whether the timer set last has fired.
func (s *Setup) Expired() bool { return s.expired }

// Read reads from the client: io.EOF at its end, ErrWouldBlock when nothing is there now.
func (s *Setup) Read(p []byte) (int, error) {
	if tc := s.t.client.tls; tc != nil {
		return tc.Read(p) // ErrWouldBlock comes through crypto/tls as it is
	}
	s.t.client.readable = true // peeks leave the flag alone: ask the socket
	return s.t.client.read(p)
}

// Peek reads what the client sent without consuming it: io.EOF when it closed without sending
// more than it had, ErrWouldBlock when nothing is there now.
func (s *Setup) Peek(p []byte) (int, error) {
	n, err := rawPeek(s.t.client.fd, p)
	switch {
	case err == unix.EAGAIN:
		return 0, ErrWouldBlock
	case err != nil:
		return 0, os.NewSyscallError("recvfrom", err)
	case n == 0 && len(p) > 0:
		return 0, io.EOF
	}
	return n, nil
}

// ClientClosed reports whether the client shut its sending side (or failed): bytes peeked are
// then all that will come.
func (s *Setup) ClientClosed() bool { return s.t.client.hup }

// Write writes to the client as far as it takes it now (an answer to a refused request).
func (s *Setup) Write(p []byte) (int, error) {
	if tc := s.t.client.tls; tc != nil {
		return tc.Write(p) // the endpoint keeps what the socket does not take now
	}
	n, err := writeFD(s.t.client.fd, p)
	if err == unix.EAGAIN {
		return n, ErrWouldBlock
	}
	if err != nil {
		return n, os.NewSyscallError("write", err)
	}
	return n, nil
}

// CloseWrite shuts the client's write half down (after an answer: the lingering close).
func (s *Setup) CloseWrite() error {
	if tc := s.t.client.tls; tc != nil {
		_ = tc.CloseWrite() // close_notify
		_, _ = s.t.client.flush()
	}
	if err := rawShutdownWrite(s.t.client.fd); err != nil {
		return os.NewSyscallError("shutdown", err)
	}
	return nil
}

// Dial starts connecting a backend socket to addr, from src when it is valid (bound with
// IP_BIND_ADDRESS_NO_PORT, so the port is chosen per address pair at connect), with TCP
// keepalive ka (nil: none) once the tunnel lives keepAliveAfter. Connected
// reports the outcome. An error here is the connect's own at once (e.g. EMFILE from socket,
// EADDRNOTAVAIL, a refused connect on loopback).
func (s *Setup) Dial(addr netip.AddrPort, src netip.Addr, ka *KeepAlive) error {
	s.DropBackend()
	fd, err := rawSocket(addr)
	if err != nil {
		return os.NewSyscallError("socket", err)
	}
	if err := prepareBackend(fd, src); err != nil {
		rawClose(fd)
		return err
	}
	var sa rawSockaddr
	sa.set(addr)
	err = rawConnect(fd, &sa)
	if err != nil && err != unix.EINPROGRESS {
		rawClose(fd)
		return os.NewSyscallError("connect", err)
	}
	t := s.t
	ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLOUT | unix.EPOLLRDHUP | unix.EPOLLET, Fd: t.slot, Pad: int32(sideBackend)}
	if err := rawEpollAdd(s.lp.epfd, fd, &ev); err != nil {
		rawClose(fd)
		return os.NewSyscallError("epoll_ctl", err)
	}
	t.backend = endpoint{fd: fd, side: sideBackend, pool: &s.lp.e.bufs}
	t.ka = nil
	if ka != nil && ka.Idle >= time.Second {
		t.ka = ka
	}
	s.dialing = err != nil
	return nil
}

// keepAliveAfter is how long a tunnel from a Setup lives before its backend socket gets TCP
// keepalive: the four setsockopt calls are paid by the long-lived tunnels keepalive is for,
// not by every short connection. The first probe still comes KeepAlive.Idle after the last
// data received (the kernel counts from there), or at most keepAliveAfter later.
var keepAliveAfter = 10 * time.Second

// prepareBackend sets the options of a backend socket before its connect.
func prepareBackend(fd int, src netip.Addr) error {
	if err := rawSetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1); err != nil {
		return os.NewSyscallError("setsockopt", err)
	}
	if !src.IsValid() {
		return nil
	}
	if err := rawSetsockoptInt(fd, unix.SOL_IP, unix.IP_BIND_ADDRESS_NO_PORT, 1); err != nil {
		return os.NewSyscallError("setsockopt", err)
	}
	var sa rawSockaddr
	sa.set(netip.AddrPortFrom(src, 0))
	if err := rawBind(fd, &sa); err != nil {
		return os.NewSyscallError("bind", err)
	}
	return nil
}

// Connected reports whether the backend connect has completed: false with a nil error while it
// is in progress, false with its error when it failed.
func (s *Setup) Connected() (bool, error) {
	if !s.dialing {
		return s.t.backend.fd >= 0, nil
	}
	b := &s.t.backend
	if !b.writable && !b.hup {
		return false, nil
	}
	// EPOLLOUT alone means the handshake completed: only an error event costs a getsockopt.
	if b.errEvent {
		if err := rawSockError(b.fd); err != nil {
			return false, os.NewSyscallError("connect", err)
		}
	}
	s.dialing = false
	return true, nil
}

// DropBackend closes the backend socket, if any (a failed connect, before the next try).
func (s *Setup) DropBackend() {
	if s.t.backend.fd >= 0 {
		s.t.backend.close()
	}
	s.dialing = false
}

// WriteBackend writes a then b to the backend in one writev as far as it takes them now.
func (s *Setup) WriteBackend(a, b []byte) (int, error) {
	n, err := rawWritev(s.t.backend.fd, a, b)
	if err == unix.EAGAIN {
		s.t.backend.writable = false
		return 0, ErrWouldBlock
	}
	if err != nil {
		return 0, os.NewSyscallError("writev", err)
	}
	return n, nil
}

// BackendAnswered reports whether the backend has sent a byte or closed, without reading.
func (s *Setup) BackendAnswered() bool {
	var one [1]byte
	_, err := rawPeek(s.t.backend.fd, one[:])
	return err != unix.EAGAIN
}

// Close ends the setup: both sockets closed (the client's with a reset when reset is true),
// the loop forgets it. The handler is not called again.
func (s *Setup) Close(reset bool) {
	t := s.t
	if t.stopped {
		return
	}
	t.stopped = true
	if t.stopAbort != nil {
		t.stopAbort()
	}
	s.orphanHandshake()
	if t.client.tls != nil && !reset {
		_, _ = t.client.flush() // an answer's last bytes, best effort
	}
	if reset && t.client.fd >= 0 {
		_ = rawLingerZero(t.client.fd)
	}
	t.client.close()
	t.backend.close()
	s.lp.remove(t)
}

// Tunnel turns the setup into a tunnel between the client and the backend socket: the engine
// forwards both ways until both sides are done, then closes them and calls done with the
// Result (on the loop: done must not block). The handler is not called again.
func (s *Setup) Tunnel(opt Options, done func(Result)) {
	t, lp := s.t, s.lp
	lp.timers.remove(t)
	t.setup = nil // the context's AfterFunc stays: an abort now ends the tunnel
	t.opt, t.done = opt, done
	for _, ep := range []*endpoint{&t.client, &t.backend} {
		ep.readable, ep.writable = true, true // an edge may have been spent on the setup
	}
	t.wireLegs()
	t.start(lp.clock)
	t.pump()
}

// SetClientKeepAlive sets TCP keepalive on the client socket (one that did not inherit it from
// its listening socket).
func (s *Setup) SetClientKeepAlive(ka KeepAlive) error { return setKeepAlive(s.t.client.fd, ka) }

// armKeepAlive sets the deferred keepalive on the backend socket (see keepAliveAfter).
func (t *loopTunnel) armKeepAlive() {
	if t.backend.fd >= 0 && t.ka != nil {
		_ = setKeepAlive(t.backend.fd, *t.ka) // best effort: the tunnel works without
	}
	t.ka = nil
}

// setKeepAlive sets TCP keepalive ka on socket fd.
func setKeepAlive(fd int, ka KeepAlive) error {
	for _, o := range [...]struct{ level, opt, value int }{
		{unix.SOL_SOCKET, unix.SO_KEEPALIVE, 1},
		{unix.IPPROTO_TCP, unix.TCP_KEEPIDLE, int(ka.Idle / time.Second)},
		{unix.IPPROTO_TCP, unix.TCP_KEEPINTVL, int(ka.Interval / time.Second)},
		{unix.IPPROTO_TCP, unix.TCP_KEEPCNT, ka.Count},
	} {
		if err := rawSetsockoptInt(fd, o.level, o.opt, o.value); err != nil {
			return os.NewSyscallError("setsockopt", err)
		}
	}
	return nil
}
