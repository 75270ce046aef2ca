package websocket

import (
	"io"
	"net"
	"time"
)

// fakeConn is a net.Conn reading from r and discarding writes (counting
// them in written), for feeding a Conn canned bytes.
type fakeConn struct {
	r       io.Reader
	w       io.Writer // nil discards
	written int
}

var _ net.Conn = (*fakeConn)(nil)

func (f *fakeConn) Read(p []byte) (int, error) { return f.r.Read(p) }
func (f *fakeConn) Write(p []byte) (int, error) {
	f.written += len(p)
	if f.w != nil {
		return f.w.Write(p)
	}
	return len(p), nil
}
func (f *fakeConn) Close() error                     { return nil }
func (f *fakeConn) LocalAddr() net.Addr              { return fakeAddr{} }
func (f *fakeConn) RemoteAddr() net.Addr             { return fakeAddr{} }
func (f *fakeConn) SetDeadline(time.Time) error      { return nil }
func (f *fakeConn) SetReadDeadline(time.Time) error  { return nil }
func (f *fakeConn) SetWriteDeadline(time.Time) error { return nil }

type fakeAddr struct{}

func (fakeAddr) Network() string { return "fake" }
func (fakeAddr) String() string  { return "fake" }
