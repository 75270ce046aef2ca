//go:build linux

package splice

import (
	"io"
	"net"
	"os"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// spliceFlags: the sockets are already non-blocking (netpoller); NONBLOCK
// makes the pipe side non-blocking too. SPLICE_F_MORE measured no gain.
const spliceFlags = unix.SPLICE_F_NONBLOCK | unix.SPLICE_F_MOVE

var _ syscall.Conn = (*net.TCPConn)(nil)

// rawConnOf returns the RawConn of conns the raw path handles: plain TCP
// sockets only. Wrappers (*tls.Conn, buffered conns) may hold bytes the
// socket no longer has, so they must be read through their Read method.
func rawConnOf(c net.Conn) syscall.RawConn {
	tc, ok := c.(*net.TCPConn)
	if !ok {
		return nil
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return nil
	}
	return rc
}

// legSys is the per-leg state of the raw path. The callbacks are bound once
// per tunnel and exchange results through these fields, so that a burst
// allocates nothing.
type legSys struct {
	waitFn, readFn, fillFn, drainFn func(fd uintptr) bool

	buf    []byte // copy buffer, only during a copy burst
	p      *pipe  // pipe, only during a splice burst
	n      int    // result of the last callback syscall
	err    error  // errno of the last callback syscall, nil if none
	inPipe int    // bytes in p not yet spliced to dst
}

func (l *leg) initRaw() {
	s := &l.sys
	s.waitFn = l.peekReadable
	s.readFn = l.readNonblock
	if l.dstRaw != nil && l.t.e.pipes != nil {
		s.fillFn = l.spliceIn
		s.drainFn = l.spliceOut
	}
}

// copyRaw forwards a plain TCP source in bursts: wait for readability
// holding nothing, then splice (or copy) until the source would block,
// releasing the pipe (or buffer) before waiting again. It returns io.EOF
// when src is exhausted.
func (l *leg) copyRaw() error {
	s := &l.sys
	for {
		if l.t.stopping.Load() {
			return errStopped
		}
		if err := l.srcRaw.Read(s.waitFn); err != nil {
			return &legError{side: l.srcSide, op: "read", err: err}
		}
		if s.err != nil {
			return &legError{side: l.srcSide, op: "read", err: os.NewSyscallError("recvfrom", s.err)}
		}
		if s.n == 0 {
			return io.EOF
		}
		var err error
		if p := l.getPipe(); p != nil {
			err = l.spliceBurst(p)
		} else {
			err = l.copyBurst()
		}
		if err != nil {
			return err
		}
	}
}

func (l *leg) getPipe() *pipe {
	if l.sys.fillFn == nil {
		return nil
	}
	return l.t.e.pipes.get()
}

// peekReadable is the readiness check: the netpoller is edge-triggered and
// RawConn.Read resets its readiness before calling us, so look first with a
// non-blocking 1-byte MSG_PEEK, and ask to park only on EAGAIN. n=1 means
// data, n=0 EOF.
func (l *leg) peekReadable(fd uintptr) bool {
	for {
		n, err := peek(int(fd))
		switch err {
		case nil:
			l.sys.n, l.sys.err = n, nil
			return true
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			return false
		default:
			l.sys.n, l.sys.err = 0, err
			return true
		}
	}
}

// peek is recv(fd, &b, 1, MSG_PEEK|MSG_DONTWAIT) into a stack byte.
// (unix.Recvfrom would heap-allocate its sockaddr on every call.)
func peek(fd int) (int, error) {
	var b byte
	n, _, errno := unix.Syscall6(unix.SYS_RECVFROM, uintptr(fd), uintptr(unsafe.Pointer(&b)), 1,
		unix.MSG_PEEK|unix.MSG_DONTWAIT, 0, 0)
	if errno != 0 {
		return 0, errno
	}
	return int(n), nil
}

// readNonblock reads once into the burst buffer; EAGAIN is a result, not a
// reason to park (the buffer goes back to the pool first).
func (l *leg) readNonblock(fd uintptr) bool {
	for {
		n, err := unix.Read(int(fd), l.sys.buf)
		if err == unix.EINTR {
			continue
		}
		l.sys.n, l.sys.err = max(n, 0), err
		return true
	}
}

// copyBurst copies src to dst through a pooled buffer until src would block.
func (l *leg) copyBurst() error {
	bp := l.t.e.bufs.get()
	l.sys.buf = *bp
	err := l.copyBurstLoop()
	l.sys.buf = nil
	l.t.e.bufs.put(bp)
	return err
}

func (l *leg) copyBurstLoop() error {
	s := &l.sys
	for {
		err := l.srcRaw.Read(s.readFn)
		if err == nil && s.err != nil {
			if s.err == unix.EAGAIN {
				return nil
			}
			err = os.NewSyscallError("read", s.err)
		}
		if err != nil {
			return &legError{side: l.srcSide, op: "read", err: err}
		}
		if s.n == 0 {
			return io.EOF
		}
		l.t.touch()
		if err := l.write(s.buf[:s.n]); err != nil {
			return err
		}
		if l.t.stopping.Load() {
			return errStopped
		}
	}
}

// spliceBurst moves src -> pipe -> dst until src would block, then returns
// the pipe: to the pool when it is empty, closed when it may hold bytes.
func (l *leg) spliceBurst(p *pipe) error {
	pool := l.t.e.pipes
	s := &l.sys
	s.p = p
	defer func() { s.p = nil }()
	for {
		// The pipe is empty here, so a failed fill leaves it reusable.
		err := l.srcRaw.Read(s.fillFn)
		if err == nil && s.err != nil {
			if s.err == unix.EAGAIN {
				pool.put(p, true)
				return nil
			}
			err = os.NewSyscallError("splice", s.err)
		}
		if err != nil {
			pool.put(p, true)
			return &legError{side: l.srcSide, op: "read", err: err}
		}
		if s.n == 0 {
			pool.put(p, true)
			return io.EOF
		}
		l.t.touch()
		l.spliced = true
		s.inPipe = s.n
		err = l.dstRaw.Write(s.drainFn)
		if err == nil && s.err != nil {
			err = os.NewSyscallError("splice", s.err)
		}
		if err != nil {
			pool.put(p, s.inPipe == 0)
			return &legError{side: l.srcSide.other(), op: "write", err: err}
		}
		if l.t.stopping.Load() {
			pool.put(p, true)
			return errStopped
		}
	}
}

// spliceIn fills the (empty) pipe from the source socket once.
func (l *leg) spliceIn(fd uintptr) bool {
	s := &l.sys
	for {
		n, err := unix.Splice(int(fd), nil, s.p.w, nil, s.p.size, spliceFlags)
		if err == unix.EINTR {
			continue
		}
		s.n, s.err = int(max(n, 0)), err
		return true
	}
}

// spliceOut drains the pipe into the destination socket, parking (pipe in
// hand) while the destination is full.
func (l *leg) spliceOut(fd uintptr) bool {
	s := &l.sys
	s.err = nil
	for s.inPipe > 0 {
		n, err := unix.Splice(s.p.r, nil, int(fd), nil, s.inPipe, spliceFlags)
		switch {
		case err == unix.EINTR:
			continue
		case err == unix.EAGAIN:
			return false
		case err != nil:
			s.err = err
			return true
		case n == 0:
			s.err = io.ErrNoProgress // cannot happen with bytes in the pipe
			return true
		}
		s.inPipe -= int(n)
		l.n += n
		l.t.touch()
	}
	return true
}
