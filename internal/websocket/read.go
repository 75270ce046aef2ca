package websocket

import (
	"errors"
	"fmt"
	"io"
	"net"
	"unicode/utf8"
)

// ReadMessage returns the next complete data message, OpText or OpBinary,
// with its fragments joined (RFC 6455 section 5.4); payload belongs to the
// caller. On the way it answers pings with pongs (section 5.5.2), passes pongs
// to the pong handler and, on a close frame, replies with a close frame
// (section 5.5.1), finishes the closing handshake and returns io.EOF; the
// peer's code is then available from PeerClose.
//
// Protocol violations fail the connection (section 7.1.7): a close frame with
// the matching code is sent, the socket closed, and a *CloseError carrying
// that code returned, e.g. 1002 for framing errors, 1007 for text that is not
// UTF-8 (section 8.1) and 1009 for a message over the read limit. A
// connection lost without a close frame yields an error wrapping
// io.ErrUnexpectedEOF. Any read error, including an expired deadline set on
// NetConn, closes the connection. Errors are sticky: later calls return the
// same error.
func (c *Conn) ReadMessage() (op Opcode, payload []byte, err error) {
	c.rmu.Lock()
	defer c.rmu.Unlock()
	if c.readErr != nil {
		return 0, nil, c.readErr
	}
	op, payload, err = c.readMessage()
	if err != nil {
		c.readErr = err
		return 0, nil, err
	}
	return op, payload, nil
}

// readMessage reads frames until a data message is complete; c.rmu is held.
func (c *Conn) readMessage() (Opcode, []byte, error) {
	var (
		msgOp   Opcode
		msg     []byte
		started bool
	)
	limit := c.limit()
	for {
		h, err := readFrameHeader(c.br)
		if err != nil {
			var ce *CloseError
			if errors.As(err, &ce) {
				return 0, nil, c.fail(ce, -1)
			}
			return 0, nil, c.readFailed(err)
		}
		if ce := h.check(!c.isClient); ce != nil {
			return 0, nil, c.fail(ce, h.length)
		}
		if h.op.isControl() {
			p := c.ctrl[:h.length]
			if _, err := io.ReadFull(c.br, p); err != nil {
				return 0, nil, c.readFailed(noEOF(err))
			}
			if h.masked {
				maskBytes(h.key, 0, p)
			}
			if err := c.handleControl(h.op, p); err != nil {
				return 0, nil, err
			}
			continue
		}
		// RFC 6455 section 5.4: a fragmented message is one frame with a
		// data opcode and FIN clear, then continuation frames, the last with
		// FIN set; only control frames may be interleaved.
		switch {
		case h.op == OpContinuation && !started:
			return 0, nil, c.fail(&CloseError{Code: CloseProtocolError, Reason: "continuation frame without a message to continue"}, h.length)
		case h.op != OpContinuation && started:
			return 0, nil, c.fail(&CloseError{Code: CloseProtocolError, Reason: "new data frame inside a fragmented message"}, h.length)
		}
		if !started {
			msgOp, started = h.op, true
		}
		if h.length > limit-int64(len(msg)) {
			return 0, nil, c.fail(&CloseError{Code: CloseMessageTooBig, Reason: fmt.Sprintf("message over %d bytes", limit)}, h.length)
		}
		start := len(msg)
		msg, err = readPayload(c.br, msg, h.length)
		if err != nil {
			return 0, nil, c.readFailed(err)
		}
		if h.masked {
			maskBytes(h.key, 0, msg[start:])
		}
		if !h.fin {
			continue
		}
		if msgOp == OpText && !utf8.Valid(msg) {
			// RFC 6455 section 8.1: invalid UTF-8 in a text message fails
			// the connection; 1007 per section 7.4.1.
			return 0, nil, c.fail(&CloseError{Code: CloseInvalidPayload, Reason: "text message is not UTF-8"}, 0)
		}
		if msg == nil {
			msg = []byte{}
		}
		return msgOp, msg, nil
	}
}

// handleControl acts on a control frame. It returns io.EOF once a close
// frame has been handled, a *CloseError if the frame was invalid, or a write
// error.
func (c *Conn) handleControl(op Opcode, p []byte) error {
	switch op {
	case OpPing:
		// RFC 6455 section 5.5.2: answer with a pong carrying the same
		// application data, unless we already sent a close frame.
		c.wmu.Lock()
		err := c.writeFrame(OpPong, p)
		c.wmu.Unlock()
		if err != nil && !errors.Is(err, ErrCloseSent) {
			_ = c.closeSocket()
			return err
		}
	case OpPong:
		if c.pongHandler != nil {
			c.pongHandler(p)
		}
	case OpClose:
		code, reason, ce := parseClosePayload(p)
		if ce != nil {
			return c.fail(ce, 0)
		}
		c.setPeerClose(code, reason)
		// RFC 6455 section 5.5.1: reply with a close frame, "typically
		// echoing the status code it received", unless we sent one first.
		_ = c.sendClose(code, "")
		c.finishClose()
		return io.EOF
	}
	return nil
}

// readFailed handles an I/O error from the socket: the connection is gone
// (or its deadline passed), so the socket is closed without a handshake.
func (c *Conn) readFailed(err error) error {
	wasClosed := c.closed.Load()
	_ = c.closeSocket()
	switch {
	case wasClosed:
		return fmt.Errorf("websocket: read: %w", net.ErrClosed)
	case errors.Is(err, io.EOF):
		// RFC 6455 section 7.1.5: closed without a close frame, code 1006.
		err = io.ErrUnexpectedEOF
	}
	return fmt.Errorf("websocket: connection lost without a close frame (%d): %w", CloseAbnormal, err)
}
