// Package websocket is a small, dependency-free implementation of the
// WebSocket protocol (RFC 6455) for tether's demo backends and end-to-end
// tests.
//
// tether itself is an L4 proxy and never parses WebSocket frames on its data
// path; this package exists so that `tether demo` and the tests have a correct
// server ([Upgrade], [EchoHandler]) and client ([Client]) without adding a
// module. It implements the opening handshake (RFC 6455 section 4), base
// framing with masking (section 5), fragmentation, ping/pong, UTF-8 checking of
// text messages (section 8.1) and the closing handshake with close-code
// validation (sections 5.5.1, 7 and 7.4). No extensions or subprotocols are
// negotiated, so the reserved frame bits must always be zero.
//
// A [Conn] is safe for one reader and one writer at a time; [Conn.Close] and
// [Conn.CloseWithCode] may be called concurrently with both.
package websocket
