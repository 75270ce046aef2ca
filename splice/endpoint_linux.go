//go:build linux

package splice

import (
	"crypto/tls"
	"io"
	"net"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// errWouldBlock is returned by a detached transport's Read when the socket
// has no data. It is a timeout, so crypto/tls does not make it sticky.
var errWouldBlock error = wouldBlockError{}

type wouldBlockError struct{}

func (wouldBlockError) Error() string   { return "splice: read would block" }
func (wouldBlockError) Timeout() bool   { return true }
func (wouldBlockError) Temporary() bool { return true }
func (wouldBlockError) Unwrap() error   { return os.ErrDeadlineExceeded }

var _ net.Error = wouldBlockError{}

// endpoint is one socket of a loop tunnel. The loop owns it: only the loop
// goroutine touches it once the tunnel is posted.
type endpoint struct {
	fd   int
	side side
	tcp  *net.TCPConn    // the conn the fd was duplicated from, until commit; owns the fd when attached
	rc   syscall.RawConn // tcp's, for a goDriver's readiness waits
	tls  *tls.Conn       // plaintext goes through it; nil for a plain socket
	tr   *transport      // tls's transport

	readable bool // no EAGAIN since the last readiness edge
	writable bool // no EAGAIN or short write since the last writability edge
	hup      bool // the peer closed or failed: read to the end, short reads included
	errEvent bool // epoll reported EPOLLERR (or EPOLLHUP without EPOLLOUT): an error may be pending

	pend    *[]byte // bytes accepted but not yet taken by the socket (pooled), or nil
	pendOff int     // start of the unsent bytes in *pend
	pool    *bufPool
	sent    int64 // bytes the socket took
	werr    error // a write error, sticky (crypto/tls cannot retry a write anyway)

	cork bool // send only queues: the records of one (*tls.Conn).Write go out in one write(2)

	shutWr bool // shut the write half down once nothing is pending
	shut   bool // the write half is shut down
}

// init records which socket (and *tls.Conn) c is; c passed detachable.
func (ep *endpoint) init(c net.Conn, s side, pool *bufPool) (syscall.RawConn, error) {
	ep.side, ep.fd, ep.pool = s, -1, pool
	switch c := c.(type) {
	case *net.TCPConn:
		ep.tcp = c
	case *tls.Conn:
		ep.tls = c
		ep.tr = c.NetConn().(*transport)
		ep.tcp = ep.tr.TCPConn
	}
	return ep.tcp.SyscallConn()
}

// dup takes a duplicate of c's socket without giving up c yet (undo closes
// the duplicate, commit closes c).
func (ep *endpoint) dup(c net.Conn, s side, pool *bufPool) error {
	rc, err := ep.init(c, s, pool)
	if err != nil {
		return err
	}
	var derr error
	if err := rc.Control(func(fd uintptr) {
		ep.fd, derr = unix.FcntlInt(fd, unix.F_DUPFD_CLOEXEC, 0)
	}); err != nil {
		return err
	}
	if derr != nil {
		ep.fd = -1
		return os.NewSyscallError("fcntl", derr)
	}
	return nil
}

// attach uses c's own socket without taking it over (goDriver): the conn
// keeps owning the fd (and closes it), the tunnel makes non-blocking calls
// on it and waits for readiness through the Go netpoller.
func (ep *endpoint) attach(c net.Conn, s side, pool *bufPool) error {
	rc, err := ep.init(c, s, pool)
	if err != nil {
		return err
	}
	if err := rc.Control(func(fd uintptr) { ep.fd = int(fd) }); err != nil {
		return err
	}
	ep.rc = rc
	ep.readable, ep.writable = true, true
	return nil
}

// bind points a *tls.Conn's transport at the attached endpoint.
func (ep *endpoint) bind() {
	if ep.tr != nil {
		ep.tr.ep = ep
	}
}

// undo gives the socket back to its conn.
func (ep *endpoint) undo() {
	unix.Close(ep.fd)
	ep.fd = -1
}

// commit closes the original conn (taking the socket out of the Go
// netpoller; the duplicate keeps it open) and points a *tls.Conn's
// transport at this endpoint.
func (ep *endpoint) commit() {
	_ = ep.tcp.Close()
	ep.tcp = nil
	ep.readable, ep.writable = true, true
	if ep.tr != nil {
		ep.tr.ep = ep
	}
}

// close closes the socket and gives back what the endpoint borrowed. An
// attached socket is closed through its conn, which also wakes a goroutine
// waiting on it.
func (ep *endpoint) close() {
	switch {
	case ep.tcp != nil:
		_ = ep.tcp.Close()
		ep.tcp = nil
	case ep.fd >= 0:
		rawClose(ep.fd)
	}
	ep.fd = -1
	ep.release()
}

// pending is how many accepted bytes the socket has not taken yet.
func (ep *endpoint) pending() int {
	if ep.pend == nil {
		return 0
	}
	return len(*ep.pend) - ep.pendOff
}

// read reads from the socket without blocking. A read shorter than p
// empties the socket, so the next one would only say EAGAIN: readable is
// cleared right away (unless the peer hung up: then EOF or an error comes
// next), saving a system call per message.
func (ep *endpoint) read(p []byte) (int, error) {
	if ep.fd < 0 {
		return 0, errDetachedClosed
	}
	if !ep.readable {
		return 0, errWouldBlock
	}
	for {
		n, err := rawRead(ep.fd, p)
		switch err {
		case nil:
			if n == 0 && len(p) > 0 {
				return 0, io.EOF
			}
			if n < len(p) && !ep.hup {
				ep.readable = false
			}
			return n, nil
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			ep.readable = false
			return 0, errWouldBlock
		default:
			return 0, os.NewSyscallError("read", err)
		}
	}
}

// send writes p to the socket as far as it takes it and keeps the rest for
// flush. It never blocks and, unless the socket failed, accepts all of p.
func (ep *endpoint) send(p []byte) (int, error) {
	if ep.fd < 0 {
		return 0, errDetachedClosed
	}
	if ep.werr != nil {
		return 0, ep.werr
	}
	total := len(p)
	if ep.pending() == 0 && ep.writable && !ep.cork {
		n, err := writeFD(ep.fd, p)
		ep.sent += int64(n)
		p = p[n:]
		switch {
		case err == unix.EAGAIN || (err == nil && len(p) > 0):
			ep.writable = false
		case err != nil:
			ep.werr = os.NewSyscallError("write", err)
			return total - len(p), ep.werr
		}
	}
	if len(p) > 0 {
		if ep.pend == nil {
			ep.pend = ep.pool.get()
			*ep.pend = (*ep.pend)[:0]
			ep.pendOff = 0
		}
		*ep.pend = append(*ep.pend, p...)
	}
	return total, nil
}

// flush writes pending bytes while the socket takes them and reports how
// many it wrote.
func (ep *endpoint) flush() (int, error) {
	if ep.werr != nil {
		return 0, ep.werr
	}
	written := 0
	for ep.pending() > 0 && ep.writable {
		n, err := writeFD(ep.fd, (*ep.pend)[ep.pendOff:])
		ep.sent += int64(n)
		ep.pendOff += n
		written += n
		switch {
		case err == unix.EAGAIN || (err == nil && ep.pending() > 0):
			ep.writable = false
		case err != nil:
			ep.werr = os.NewSyscallError("write", err)
			return written, ep.werr
		}
	}
	if ep.pend != nil && ep.pending() == 0 {
		ep.release()
	}
	return written, nil
}

// release gives the pending buffer back (its bytes, if any, are dropped).
func (ep *endpoint) release() {
	if ep.pend == nil {
		return
	}
	if b := *ep.pend; cap(b) == ep.pool.size {
		*ep.pend = b[:cap(b)]
		ep.pool.put(ep.pend)
	}
	ep.pend, ep.pendOff = nil, 0
}

// writeFD is write(2) retried on EINTR; n is never negative.
func writeFD(fd int, p []byte) (int, error) {
	for {
		n, err := rawWrite(fd, p)
		if err == unix.EINTR {
			continue
		}
		return max(n, 0), err
	}
}
