package websocket

import (
	"crypto/rand"
	"errors"
	"fmt"
	"unicode/utf8"
)

// maxWriteBuf bounds the staging buffer: larger server payloads are written
// after their header without copying, larger client payloads are masked and
// written in pieces of this size.
const maxWriteBuf = 32 << 10

// errBadWrite reports a message that may not be written as given.
var errBadWrite = errors.New("websocket: invalid message")

// WriteMessage writes one unfragmented message. op is OpText, OpBinary,
// OpPing or OpPong; text must be UTF-8 (RFC 6455 section 5.6) and control
// payloads at most 125 bytes (section 5.5). Use Close or CloseWithCode to send
// a close frame. The client side masks the frame with a fresh key from
// crypto/rand (section 5.3); payload itself is never modified.
func (c *Conn) WriteMessage(op Opcode, payload []byte) error {
	switch op {
	case OpText:
		if !utf8.Valid(payload) {
			return fmt.Errorf("%w: text message is not UTF-8", errBadWrite)
		}
	case OpBinary:
	case OpPing, OpPong:
		if len(payload) > maxControlPayload {
			return fmt.Errorf("%w: %s payload is %d bytes, at most %d allowed", errBadWrite, op, len(payload), maxControlPayload)
		}
	default:
		return fmt.Errorf("%w: cannot write opcode %s as a message", errBadWrite, op)
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.writeFrame(op, payload)
}

// Ping sends a ping control frame (RFC 6455 section 5.5.2); the peer answers
// with a pong carrying the same payload, see SetPongHandler.
func (c *Conn) Ping(payload []byte) error {
	return c.WriteMessage(OpPing, payload)
}

// writeFrame writes a single final frame; c.wmu must be held. A close frame
// marks the connection as closing: later writes fail with ErrCloseSent.
func (c *Conn) writeFrame(op Opcode, payload []byte) error {
	if c.closeSent {
		return ErrCloseSent
	}
	if c.writeErr != nil {
		return c.writeErr
	}
	if op == OpClose {
		c.closeSent = true
	}
	if err := c.writeFrameData(op, payload); err != nil {
		c.writeErr = fmt.Errorf("websocket: write %s frame: %w", op, err)
		return c.writeErr
	}
	return nil
}

// writeFrameData encodes and writes the frame, reusing c.wbuf.
func (c *Conn) writeFrameData(op Opcode, payload []byte) error {
	var key [4]byte
	if c.isClient {
		key = c.nextMaskKey()
	}
	want := maxHeaderLen + len(payload)
	if cap(c.wbuf) < min(want, maxWriteBuf) {
		c.wbuf = make([]byte, 0, min(want, maxWriteBuf))
	}
	buf := appendFrameHeader(c.wbuf[:0], true, op, c.isClient, key, int64(len(payload)))
	if !c.isClient {
		if len(buf)+len(payload) <= cap(buf) {
			_, err := c.conn.Write(append(buf, payload...))
			return err
		}
		// Large payload: the header, then the caller's bytes without a copy.
		if _, err := c.conn.Write(buf); err != nil {
			return err
		}
		_, err := c.conn.Write(payload)
		return err
	}
	// Client: mask a copy, chunk by chunk, continuing the key position.
	pos := 0
	for {
		n := min(len(payload), cap(buf)-len(buf))
		start := len(buf)
		buf = append(buf, payload[:n]...)
		pos = maskBytes(key, pos, buf[start:])
		payload = payload[n:]
		if _, err := c.conn.Write(buf); err != nil {
			return err
		}
		if len(payload) == 0 {
			return nil
		}
		buf = buf[:0]
	}
}

// nextMaskKey returns a fresh masking key. RFC 6455 section 5.3 requires
// keys that are unpredictable, "derived from a strong source of entropy";
// they come from crypto/rand, fetched 64 bytes at a time. c.wmu must be held.
func (c *Conn) nextMaskKey() [4]byte {
	if c.maskPos+4 > len(c.maskRand) {
		_, _ = rand.Read(c.maskRand[:]) // never fails (crypto/rand, Go >= 1.24)
		c.maskPos = 0
	}
	var k [4]byte
	copy(k[:], c.maskRand[c.maskPos:])
	c.maskPos += 4
	return k
}
