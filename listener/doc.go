// Package listener runs tether's listeners and the per-connection pipeline:
//
//	accept -> TLS handshake (wss listeners) -> read the HTTP request head -> choose a backend
//	by hashing the client address -> dial it -> PROXY header + replay the head -> forward
//	both ways -> access log line
//
// The whole pipeline reads top to bottom in conn.go; each step calls into the package that
// owns it (tlsterm, preamble, hashing via upstream, splice).
package listener
