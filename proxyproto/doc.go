// Package proxyproto is tether's one home for the PROXY protocol (HAProxy's
// proxy-protocol.txt, v1 text and v2 binary), both directions:
//
//   - reading (read.go): the header a trusted load balancer in front of tether sends first on
//     each connection, peeked and consumed without a single byte past it, so the bytes that
//     follow (a TLS ClientHello, an HTTP head, a spliced stream) stay in the socket for the next
//     step; the result is tether's own [Header];
//   - writing (write.go): the header tether sends a backend ([AppendHeader], which allocates
//     nothing on the per-connection path when given a buffer with room).
//
// github.com/pires/go-proxyproto parses the framed bytes and is the reference the writer is
// tested against; no other package of tether sees its types.
package proxyproto
