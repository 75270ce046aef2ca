package splice

import (
	"crypto/tls"
	"errors"
	"io"
	"net"

	"github.com/tether-proxy/tether/wsframe"
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

	ws        wsframe.Tracker // frame boundaries of src's stream (the leg goroutine's); Off unless followed
	sawFrames bool            // the leg goroutine's: its tracker passed the backend's 101

	// A polite ending (wsstream.go), under t.mu.
	reached   bool // src passed its last message; its bytes are only searched for a close frame
	fwdClose  bool // src's own close frame went to dst before the boundary
	injecting bool // the leg is writing its close frame
	injected  bool // the leg's close frame is out (or fwdClose)
	answered  bool // src sent its close frame after the boundary, or ended
	kicked    bool // a read deadline in the past interrupts the leg's Read
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
	if l.ws.On() {
		return l.copyFramed(buf)
	}
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

// copyFramed is copyStream for a stream whose frames are followed (see wsstream.go): between
// reads it takes its turn in a polite ending, and during one it reads no further than the
// current frame until its message ends, then forwards nothing more.
func (l *leg) copyFramed(buf []byte) error {
	t := l.t
	for {
		ending := t.wsEnding.Load()
		if ending {
			if err := t.endTurn(l); err != nil {
				return err
			}
		}
		rbuf := buf
		if ending && !l.reached && l.ws.State() == wsframe.Frames {
			rbuf = buf[:min(int64(len(buf)), l.ws.Need())]
		}
		n, err := l.src.Read(rbuf)
		if n > 0 {
			t.touch()
			p := rbuf[:n]
			switch {
			case l.reached:
				l.ws.Feed(p)
				t.noteAnswer(l)
				p = nil
			case t.wsEnding.Load():
				p = p[:t.forwardable(l, p)]
			default:
				t.follow(l, p)
			}
			if len(p) > 0 {
				if werr := l.write(p); werr != nil {
					return werr
				}
			}
		}
		if err != nil && t.wsEnding.Load() && !t.stopping.Load() {
			var ne net.Error
			switch {
			case err == io.EOF:
				return t.endEOF(l)
			case errors.As(err, &ne) && ne.Timeout():
				continue // a kick: the ending wants the leg's turn
			}
		}
		switch {
		case err == io.EOF:
			return io.EOF
		case err != nil:
			return &legError{side: l.srcSide, op: "read", err: err}
		case t.stopping.Load():
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
