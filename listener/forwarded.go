package listener

import (
	"bytes"
	"net/netip"

	"github.com/tether-proxy/tether/conf"
	"github.com/tether-proxy/tether/preamble"
)

// Forwarded headers for backends that do not speak the PROXY protocol. Only the first request
// of a connection is rewritten: tether is an L4 proxy and forwards everything after the first
// request head untouched (a WebSocket has exactly one request; an HTTP/1.1 keep-alive
// connection's later requests reach the backend as the client sent them). Backends that need
// the client address on every request should use proxy_protocol instead.
var forwardedNames = []string{"X-Forwarded-For", "X-Real-IP", "X-Forwarded-Proto"}

// appendForwarded appends head h (whose raw bytes are raw[:h.Len()]) to dst with
// X-Forwarded-For, X-Real-IP and X-Forwarded-Proto set for client ip: a trusted peer's
// X-Forwarded-For is extended, anyone else's three headers are dropped and replaced
// (so clients cannot forge them). The request line and other fields keep their order; line
// endings become CRLF.
func appendForwarded(dst []byte, h *preamble.Head, f *conf.Forwarded, peer, ip netip.Addr, tls bool) []byte {
	trusted := false
	for _, p := range f.Trusted {
		if p.Contains(peer.Unmap()) {
			trusted = true
			break
		}
	}
	dst = append(dst, h.Method()...)
	dst = append(dst, ' ')
	dst = append(dst, h.Target()...)
	dst = append(dst, ' ')
	dst = append(dst, h.Proto()...)
	dst = append(dst, "\r\n"...)
	var prior []byte // a trusted peer's X-Forwarded-For chain
	var proto []byte // a trusted peer's X-Forwarded-Proto
	for i := range h.NumHeaders() {
		name, value := h.HeaderAt(i)
		if k := forwardedIndex(name); k >= 0 {
			if trusted && k == 0 {
				if len(prior) > 0 {
					prior = append(prior, ", "...)
				}
				prior = append(prior, value...)
			}
			if trusted && k == 2 && proto == nil {
				proto = value
			}
			continue
		}
		dst = append(dst, name...)
		dst = append(dst, ": "...)
		dst = append(dst, value...)
		dst = append(dst, "\r\n"...)
	}
	dst = append(dst, "X-Forwarded-For: "...)
	if len(prior) > 0 {
		dst = append(dst, prior...)
		dst = append(dst, ", "...)
	}
	dst = ip.Unmap().AppendTo(dst)
	dst = append(dst, "\r\nX-Real-IP: "...)
	dst = ip.Unmap().AppendTo(dst)
	dst = append(dst, "\r\nX-Forwarded-Proto: "...)
	switch {
	case proto != nil:
		dst = append(dst, proto...)
	case tls:
		dst = append(dst, "https"...)
	default:
		dst = append(dst, "http"...)
	}
	return append(dst, "\r\n\r\n"...)
}

func forwardedIndex(name []byte) int {
	for i, n := range forwardedNames {
		if bytes.EqualFold(name, []byte(n)) {
			return i
		}
	}
	return -1
}
