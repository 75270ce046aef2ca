package websocket

import (
	"errors"
	"fmt"
	"io"
	"net"
	"time"
)

// closeWriter is implemented by *net.TCPConn, *net.UnixConn and *tls.Conn:
// connections that can shut down their sending side alone.
type closeWriter interface {
	CloseWrite() error
}

// Close performs the closing handshake with status 1000 (normal closure) and
// closes the socket, see CloseWithCode. It is idempotent.
func (c *Conn) Close() error {
	return c.CloseWithCode(CloseNormal, "")
}

// CloseWithCode starts the closing handshake (RFC 6455 section 7.1.2): it
// sends a close frame with code and reason, waits a bounded time for the
// peer's close frame (and, on the client side, for the server to close the
// TCP connection first, section 7.1.1), then closes the socket. Sending is
// best effort; the socket is closed in any case. code must be valid to send
// (section 7.4) and reason at most 123 bytes of UTF-8, otherwise an error is
// returned and nothing is sent. If the connection is already closing, it only
// waits for that to finish. Data frames arriving meanwhile are discarded
// unless a concurrent ReadMessage consumes them; once the peer's close frame
// has arrived, ReadMessage returns io.EOF, otherwise an error wrapping
// net.ErrClosed.
func (c *Conn) CloseWithCode(code uint16, reason string) error {
	if err := checkSendClose(code, reason); err != nil {
		return err
	}
	if c.closed.Load() {
		return nil
	}
	// Wake a writer blocked on a peer that does not read, so the close frame
	// can be sent; sendClose renews the deadline for its own write.
	_ = c.conn.SetWriteDeadline(time.Now().Add(c.closeTimeout))
	err := c.sendClose(code, reason)
	if err != nil && !errors.Is(err, ErrCloseSent) {
		_ = c.closeSocket()
		return err
	}
	if err == nil {
		// Bound the wait of a concurrent ReadMessage, which then consumes
		// the peer's reply; otherwise drain the reply here.
		_ = c.conn.SetReadDeadline(time.Now().Add(c.closeTimeout))
	}
	c.rmu.Lock()
	if c.readErr == nil && err == nil {
		c.linger(0)
		// A later ReadMessage reports how the handshake ended.
		c.readErr = fmt.Errorf("websocket: read: %w", net.ErrClosed)
		if _, _, ok := c.PeerClose(); ok {
			c.readErr = io.EOF
		}
	}
	c.rmu.Unlock()
	_ = c.closeSocket()
	return nil
}

// sendClose writes a close frame unless one was sent already (ErrCloseSent).
// The server then shuts down its sending side: no more frames may follow
// (RFC 6455 section 5.5.1), and a peer waiting for the server to close the
// TCP connection (section 7.1.1) sees EOF without us having to parse
// whatever it sends until then.
func (c *Conn) sendClose(code uint16, reason string) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.closeSent {
		return ErrCloseSent
	}
	_ = c.conn.SetWriteDeadline(time.Now().Add(c.closeTimeout))
	var b [maxControlPayload]byte
	err := c.writeFrame(OpClose, appendClosePayload(b[:0], code, reason))
	if err == nil && !c.isClient {
		if cw, ok := c.conn.(closeWriter); ok {
			_ = cw.CloseWrite()
		}
	}
	return err
}

// finishClose completes the closing handshake after the peer's close frame
// was received and answered; c.rmu is held. RFC 6455 section 7.1.1: the
// server closes the TCP connection right away, the client waits (bounded)
// for the server to do so.
func (c *Conn) finishClose() {
	if c.isClient {
		_ = c.conn.SetReadDeadline(time.Now().Add(c.closeTimeout))
		_, _ = io.Copy(io.Discard, c.br)
	}
	_ = c.closeSocket()
}

// fail implements "Fail the WebSocket Connection" (RFC 6455 section 7.1.7):
// send a close frame with the error's code, wait a bounded time for the peer
// to finish the handshake, close the socket and return ce. skip is the number
// of payload bytes of the current frame still unread, or negative if the
// stream position is unknown. c.rmu is held.
func (c *Conn) fail(ce *CloseError, skip int64) error {
	if err := c.sendClose(ce.Code, ce.Reason); err == nil {
		c.linger(skip)
	}
	_ = c.closeSocket()
	return ce
}

// linger waits, at most closeTimeout, for the peer to complete a closing
// handshake we started. With the stream in sync (skip >= 0 bytes of payload
// left) it discards frames until the peer's close frame, recording its code;
// the client then keeps discarding until the server closes the connection
// (RFC 6455 section 7.1.1), as does either side when the stream is out of
// sync. c.rmu is held.
func (c *Conn) linger(skip int64) {
	_ = c.conn.SetReadDeadline(time.Now().Add(c.closeTimeout))
	if skip >= 0 {
		if _, err := io.CopyN(io.Discard, c.br, skip); err != nil {
			return
		}
		for {
			h, err := readFrameHeader(c.br)
			if err != nil {
				return
			}
			if h.op == OpClose && h.length <= maxControlPayload {
				p := c.ctrl[:h.length]
				if _, err := io.ReadFull(c.br, p); err != nil {
					return
				}
				if h.masked {
					maskBytes(h.key, 0, p)
				}
				if code, reason, ce := parseClosePayload(p); ce == nil {
					c.setPeerClose(code, reason)
				}
				break
			}
			if _, err := io.CopyN(io.Discard, c.br, h.length); err != nil {
				return
			}
		}
		if !c.isClient {
			return
		}
	}
	_, _ = io.Copy(io.Discard, c.br)
}
