package websocket

import "strconv"

// Opcode is a WebSocket frame opcode (RFC 6455 section 5.2). The zero value
// is [OpContinuation].
type Opcode byte

// Opcodes defined by RFC 6455 section 5.2 (registry in section 11.8).
const (
	OpContinuation Opcode = 0x0 // continuation of a fragmented message
	OpText         Opcode = 0x1 // text (UTF-8) data message
	OpBinary       Opcode = 0x2 // binary data message
	OpClose        Opcode = 0x8 // close control frame
	OpPing         Opcode = 0x9 // ping control frame
	OpPong         Opcode = 0xA // pong control frame
)

// isControl reports whether op is a control opcode: control frames have the
// most significant opcode bit set (RFC 6455 section 5.5).
func (op Opcode) isControl() bool { return op&0x8 != 0 }

// isKnown reports whether op is defined by RFC 6455; 0x3-0x7 and 0xB-0xF are
// reserved (section 5.2).
func (op Opcode) isKnown() bool {
	switch op {
	case OpContinuation, OpText, OpBinary, OpClose, OpPing, OpPong:
		return true
	}
	return false
}

// String returns the opcode's name, or its number for reserved opcodes.
func (op Opcode) String() string {
	switch op {
	case OpContinuation:
		return "continuation"
	case OpText:
		return "text"
	case OpBinary:
		return "binary"
	case OpClose:
		return "close"
	case OpPing:
		return "ping"
	case OpPong:
		return "pong"
	}
	return "opcode(" + strconv.Itoa(int(op)) + ")"
}
