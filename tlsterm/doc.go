// Package tlsterm terminates TLS for tether's wss:// listeners: it holds each listener's
// certificates, picks one per handshake by SNI and by the key types the client can verify
// (ECDSA preferred, RSA beside it for old clients), and builds the server-side tls.Config with
// tether's secure defaults (TLS 1.2 minimum, AEAD cipher suites only, ALPN http/1.1, Go's
// key-exchange groups with the post-quantum hybrid first unless a listener's curves say
// otherwise).
//
// A Store's certificates can be replaced at any time (Store.LoadFiles) without touching the
// tls.Config, so session-ticket keys and in-flight handshakes survive a certificate reload.
// Session-ticket key files shared by several tether processes (ReadTicketKeys) let each of them
// resume the sessions of the others.
package tlsterm
