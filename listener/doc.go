// Package listener runs tether's listeners and the per-connection pipeline:
//
//	accept -> PROXY header in (trusted load balancers) -> TLS handshake (wss listeners) ->
//	read the HTTP request head -> choose a backend by hashing the listener's key (the client
//	address, or a header, cookie or query argument of the head; ip_hash: the address) ->
//	dial it -> PROXY header + replay the head -> forward both ways -> access log line
//
// The whole pipeline reads top to bottom in conn.go; each step calls into the package that
// owns it (proxyproto, tlsterm, preamble, hashing via upstream, splice). The steps reach the
// sockets through a wire and resume where they stopped, so one list of steps serves both ways a
// connection is set up: on a goroutine that blocks in each call (wire.go: TLS listeners, the
// goroutine engine), and on an event loop that calls the pipeline again whenever a socket is
// ready or a timer fires (loopwire_linux.go: plain listeners on the event-loop engine).
package listener
