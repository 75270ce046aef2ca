package preamble

import "encoding/base64"

// Check applies the listener mode m to a head parsed without error. It
// returns nil if the head is acceptable, or a [*Reject].
//
// [ModeHTTP] (and the zero or an unknown Mode) accepts every well-formed
// head. [ModeWebSocket] requires the opening handshake of RFC 6455 section
// 4.2.1:
//   - no Upgrade list containing "websocket" at all: 426 Upgrade Required
//     with "Upgrade: websocket" and "Connection: Upgrade" (RFC 9110 section
//     15.5.22 requires the Upgrade header in a 426);
//   - a method other than GET, a version other than HTTP/1.1, a Connection
//     list without "upgrade", or a Sec-WebSocket-Key that is missing,
//     repeated or not the base64 encoding of 16 bytes: 400 Bad Request;
//   - a Sec-WebSocket-Version other than 13 (or none): 426 with
//     "Sec-WebSocket-Version: 13" (RFC 6455 section 4.4).
func Check(h *Head, m Mode) error {
	if m != ModeWebSocket {
		return nil
	}
	// RFC 6455 section 4.2.1 item 3: an Upgrade header field containing
	// the value "websocket", treated as an ASCII case-insensitive value.
	if !h.HasToken("Upgrade", "websocket") {
		return errNotWebSocket
	}
	// Item 1: an HTTP/1.1 or higher GET request.
	if string(h.Method()) != "GET" {
		return errWSMethod
	}
	if h.ProtoMinor() != 1 {
		return errWSProto
	}
	// Item 4: a Connection header field that includes the token "Upgrade",
	// treated as an ASCII case-insensitive value.
	if !h.HasToken("Connection", "upgrade") {
		return errWSConnection
	}
	// Item 5: a Sec-WebSocket-Key header field with a base64-encoded value
	// that, when decoded, is 16 bytes in length.
	if h.count("Sec-WebSocket-Key") != 1 || !validKey(h.Header("Sec-WebSocket-Key")) {
		return errWSKey
	}
	// Item 6: a Sec-WebSocket-Version header field, with a value of 13.
	// Section 4.4: otherwise 426 with the versions the server supports.
	if string(h.Header("Sec-WebSocket-Version")) != "13" {
		return errWSVersion
	}
	return nil
}

// validKey reports whether key is the padded standard base64 encoding of
// exactly 16 bytes (24 characters, RFC 4648 section 4). It does not
// allocate.
func validKey(key []byte) bool {
	if len(key) != 24 {
		return false
	}
	var dst [18]byte // base64.StdEncoding.DecodedLen(24)
	n, err := base64.StdEncoding.Decode(dst[:], key)
	return err == nil && n == 16
}
