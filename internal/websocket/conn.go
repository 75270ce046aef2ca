package websocket

import (
	"bufio"
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultReadLimit is the largest message ReadMessage accepts unless
// SetReadLimit says otherwise.
const DefaultReadLimit = 16 << 20

// defaultCloseTimeout bounds how long the closing handshake waits for the
// peer (its close frame, or its TCP close) before the socket is closed anyway.
const defaultCloseTimeout = 5 * time.Second

// ErrCloseSent is returned by writes after a close frame was sent: RFC 6455
// section 5.5.1 forbids data frames after a close frame.
var ErrCloseSent = errors.New("websocket: close frame already sent")

// Conn is one WebSocket connection, either side. It is created by [Upgrade]
// (server) or [Client] (client) and is safe for one reader (ReadMessage) and
// one writer (WriteMessage, Ping) at a time; Close and CloseWithCode may be
// called from any goroutine. Frames written by the client side are masked
// (RFC 6455 section 5.3).
type Conn struct {
	conn         net.Conn
	br           *bufio.Reader
	isClient     bool
	closeTimeout time.Duration

	readLimit atomic.Int64 // 0 means DefaultReadLimit

	// rmu is held for the whole of ReadMessage and during the closing
	// handshake's drain, so frames are consumed by one goroutine at a time.
	rmu         sync.Mutex
	readErr     error                   // sticky: returned by every later ReadMessage
	ctrl        [maxControlPayload]byte // control frame payload buffer
	pongHandler func(payload []byte)

	// wmu serialises frame writes: the reader writes pongs and close replies
	// while the writer writes data.
	wmu       sync.Mutex
	wbuf      []byte // header + (masked) payload staging buffer
	writeErr  error  // sticky: a failed write may have left half a frame
	closeSent bool
	maskRand  [64]byte // crypto/rand bytes for masking keys
	maskPos   int      // next unused byte of maskRand

	// smu guards the close status received from the peer.
	smu        sync.Mutex
	peerClosed bool
	peerCode   uint16
	peerReason string

	closeOnce sync.Once
	closeErr  error
	closed    atomic.Bool
}

var _ io.Closer = (*Conn)(nil)

// newConn wraps an established connection whose handshake is complete. br
// must read from conn and may hold bytes already received after the
// handshake.
func newConn(conn net.Conn, br *bufio.Reader, isClient bool) *Conn {
	c := &Conn{conn: conn, br: br, isClient: isClient, closeTimeout: defaultCloseTimeout}
	c.maskPos = len(c.maskRand) // refill on first use
	return c
}

// SetReadLimit sets the largest message (sum of its fragments' payloads)
// ReadMessage accepts; larger ones fail the connection with close code 1009
// (RFC 6455 section 7.4.1). n <= 0 restores DefaultReadLimit (16 MiB).
func (c *Conn) SetReadLimit(n int64) {
	c.readLimit.Store(max(n, 0))
}

// limit returns the read limit in force.
func (c *Conn) limit() int64 {
	if n := c.readLimit.Load(); n > 0 {
		return n
	}
	return DefaultReadLimit
}

// SetPongHandler sets a function ReadMessage calls, on the reading goroutine,
// with the payload of every pong it receives; the payload is only valid
// during the call. nil (the default) ignores pongs. Call it before reading or
// from the reading goroutine.
func (c *Conn) SetPongHandler(h func(payload []byte)) {
	c.pongHandler = h
}

// NetConn returns the underlying connection. Reading from it directly
// bypasses buffered data and corrupts the stream; it is meant for addresses,
// deadlines and tests.
func (c *Conn) NetConn() net.Conn { return c.conn }

// LocalAddr returns the local network address.
func (c *Conn) LocalAddr() net.Addr { return c.conn.LocalAddr() }

// RemoteAddr returns the remote network address.
func (c *Conn) RemoteAddr() net.Addr { return c.conn.RemoteAddr() }

// PeerClose reports the close frame received from the peer, if any: its code
// (CloseNoStatus when the frame had no body, RFC 6455 section 7.1.5) and
// reason. ok is false until a valid close frame has been received.
func (c *Conn) PeerClose() (code uint16, reason string, ok bool) {
	c.smu.Lock()
	defer c.smu.Unlock()
	return c.peerCode, c.peerReason, c.peerClosed
}

// setPeerClose records the peer's close frame.
func (c *Conn) setPeerClose(code uint16, reason string) {
	c.smu.Lock()
	c.peerClosed, c.peerCode, c.peerReason = true, code, reason
	c.smu.Unlock()
}

// closeSocket closes the underlying connection once.
func (c *Conn) closeSocket() error {
	c.closeOnce.Do(func() {
		c.closed.Store(true)
		c.closeErr = c.conn.Close()
	})
	return c.closeErr
}
