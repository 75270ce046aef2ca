// Package listener runs tether's listeners and the per-connection pipeline:
//
//	accept -> PROXY header in (trusted load balancers) -> TLS handshake (wss listeners) ->
//	read the HTTP request head -> choose a backend by hashing the listener's key (the client
//	address, or a header, cookie or query argument of the head; ip_hash: the address) ->
//	dial it -> PROXY header + replay the head -> forward both ways -> access log line
//
// The whole pipeline reads top to bottom in conn.go; each step calls into the package that
// owns it (proxyproto, tlsterm, preamble, hashing via upstream, splice).
package listener
