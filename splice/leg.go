package splice

import (
	"crypto/tls"
	"errors"
	"io"
	"net"
)

// side names an end of the tunnel.
type side uint8

const (
	sideClient side = iota
	sideBackend
)

func (s side) String() string {
	if s == sideClient {
		return "client"
	}
	return "backend"
}

func (s side) other() side { return 1 - s }

// errStopped ends a leg that noticed the teardown between bursts. It never
// reaches a Result: the teardown's own cause is reported.
var errStopped = errors.New("splice: tunnel stopped")

// legError is a read or write failure, attributed to the side it happened on.
type legError struct {
	side side
	op   string // "read", "write", "close write"
	err  error
}

var _ error = (*legError)(nil)

func (e *legError) Error() string { return e.op + " " + e.side.String() + ": " + e.err.Error() }
func (e *legError) Unwrap() error { return e.err }

// leg is one direction of a stream tunnel: src -> dst.
type leg struct {
	t        *tunnel
	srcSide  side
	src, dst net.Conn
	n        int64 // bytes written to dst; read by Forward after the leg ended
}

func (l *leg) init(t *tunnel, s side, src, dst net.Conn) {
	l.t, l.srcSide, l.src, l.dst = t, s, src, dst
}

// run forwards until src is exhausted or the tunnel stops, propagates EOF,
// and reports the outcome to the tunnel.
func (l *leg) run() {
	err := l.copyStream()
	if err == io.EOF {
		err = l.propagateEOF()
	}
	l.t.legDone(l, err)
}

// propagateEOF half-closes dst after src ended; nil means a clean end.
func (l *leg) propagateEOF() error {
	if l.t.stopping.Load() {
		return errStopped
	}
	l.t.sawEOF(l)
	if err := closeWrite(l.dst); err != nil {
		return &legError{side: l.srcSide.other(), op: "close write", err: err}
	}
	return nil
}

// copyStream blocks in Read holding one pooled buffer for the leg's whole
// life. It returns io.EOF when src is exhausted.
func (l *leg) copyStream() error {
	pool := &l.t.e.bufs
	if _, ok := l.src.(*tls.Conn); ok {
		pool = &l.t.e.tlsBufs
	}
	bp := pool.get()
	defer pool.put(bp)
	buf := *bp
	for {
		n, err := l.src.Read(buf)
		if n > 0 {
			l.t.touch()
			if werr := l.write(buf[:n]); werr != nil {
				return werr
			}
		}
		switch {
		case err == io.EOF:
			return io.EOF
		case err != nil:
			return &legError{side: l.srcSide, op: "read", err: err}
		case l.t.stopping.Load():
			return errStopped
		}
	}
}

// write writes p to dst, counting and recording progress.
func (l *leg) write(p []byte) error {
	n, err := l.dst.Write(p)
	l.n += int64(n)
	if n > 0 {
		l.t.touch()
	}
	if err != nil {
		return &legError{side: l.srcSide.other(), op: "write", err: err}
	}
	return nil
}

// closeWriter is implemented by conns that can half-close (*net.TCPConn,
// *tls.Conn, *net.UnixConn).
type closeWriter interface {
	CloseWrite() error
}

var (
	_ closeWriter = (*net.TCPConn)(nil)
	_ closeWriter = (*tls.Conn)(nil)
)

// closeWrite propagates EOF to c. For a *tls.Conn that is a close_notify
// alert (RFC 8446 section 6.1; RFC 5246 section 7.2.1) followed by a TCP
// shutdown of the write half, so that peers waiting for the TCP FIN (not
// just the alert) see the end too. Conns that cannot half-close are left
// alone: their peer sees the end when the tunnel closes them.
func closeWrite(c net.Conn) error {
	if tc, ok := c.(*tls.Conn); ok {
		err := tc.CloseWrite()
		if cw, ok := tc.NetConn().(closeWriter); ok {
			if err2 := cw.CloseWrite(); err == nil {
				err = err2
			}
		}
		return err
	}
	if cw, ok := c.(closeWriter); ok {
		return cw.CloseWrite()
	}
	return nil
}
