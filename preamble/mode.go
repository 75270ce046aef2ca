package preamble

import (
	"encoding"
	"fmt"
)

// Mode is what a listener accepts. The zero Mode is not a valid setting;
// [Check] treats it (and any other unknown value) like [ModeHTTP].
type Mode uint8

const (
	// ModeHTTP accepts any well-formed HTTP/1.0 or HTTP/1.1 request head,
	// including WebSocket upgrades and requests with a body.
	ModeHTTP Mode = iota + 1
	// ModeWebSocket accepts only a valid RFC 6455 opening handshake.
	ModeWebSocket
)

// Compile-time guards: a Mode can be read from and written to config files.
var (
	_ encoding.TextMarshaler   = Mode(0)
	_ encoding.TextUnmarshaler = (*Mode)(nil)
	_ fmt.Stringer             = Mode(0)
)

// String returns "http", "websocket", or "Mode(N)" for an unknown value.
func (m Mode) String() string {
	switch m {
	case ModeHTTP:
		return "http"
	case ModeWebSocket:
		return "websocket"
	}
	return fmt.Sprintf("Mode(%d)", uint8(m))
}

// MarshalText implements [encoding.TextMarshaler]. It fails for unknown values.
func (m Mode) MarshalText() ([]byte, error) {
	switch m {
	case ModeHTTP, ModeWebSocket:
		return []byte(m.String()), nil
	}
	return nil, fmt.Errorf("preamble: invalid mode %d", uint8(m))
}

// UnmarshalText implements [encoding.TextUnmarshaler]. It accepts "http" and
// "websocket".
func (m *Mode) UnmarshalText(text []byte) error {
	switch string(text) {
	case "http":
		*m = ModeHTTP
	case "websocket":
		*m = ModeWebSocket
	default:
		return fmt.Errorf("preamble: invalid mode %q (want \"http\" or \"websocket\")", text)
	}
	return nil
}
