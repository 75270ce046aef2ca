// Package preamble reads and checks the HTTP/1.x request head that a client
// sends first on a proxied connection, before tether picks a backend.
//
// tether is a layer-4 proxy: it never rewrites the request. It only peeks at
// the head (the WebSocket opening handshake, or any HTTP/1.x request for
// Socket.io long-polling) so that it can refuse garbage early and, in later
// features, derive a sticky hash key from the Host, a header, a cookie or a
// query parameter. Every byte that [Read] consumes must be replayed to the
// backend unchanged.
//
// Parsing follows RFC 9112 (HTTP/1.1 message syntax) strictly where a
// lenient reading would let two parsers disagree (no obs-fold, no whitespace
// before the colon, no bare CR, exactly one Host), and tolerantly where the
// RFC allows it (bare LF line endings and a few leading empty lines, RFC 9112
// section 2.2). [Check] then applies the listener [Mode]; in [ModeWebSocket]
// that is the opening handshake of RFC 6455 section 4.2.1.
//
// A refused head yields a [*Reject] whose [Reject.Response] is a small HTTP
// error response to write before closing the connection.
//
// Parsing does not allocate: [Head] keeps offsets into the caller's buffer in
// a fixed inline array, and its accessors return sub-slices of that buffer.
package preamble
