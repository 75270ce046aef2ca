package tlsterm

import (
	"crypto/tls"
	"fmt"
	"net"
	"time"
)

// cipherSuites are the TLS 1.2 suites tether offers: forward-secret ECDHE with AEAD ciphers only
// (Mozilla "intermediate" minus the DHE suites). TLS 1.3 suites are not configurable in Go and
// are all AEAD.
var cipherSuites = []uint16{
	tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
	tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
}

// ServerConfig returns the tls.Config for a listener whose certificates live in store:
// TLS 1.2 minimum, AEAD suites only, ALPN "http/1.1" (tether peeks at an HTTP/1.1 request head,
// so it must never agree to h2), session tickets on with Go's rotating keys.
//
// Keep one Config per listener for its whole life and reload certificates through the Store:
// the ticket keys live in the Config, so resumption keeps working across certificate reloads.
func ServerConfig(store *Store) *tls.Config {
	return &tls.Config{
		MinVersion:     tls.VersionTLS12,
		CipherSuites:   cipherSuites,
		NextProtos:     []string{"http/1.1"},
		GetCertificate: store.GetCertificate,
	}
}

// Handshake runs the server handshake on conn within timeout (zero: no limit), using the
// connection's deadline rather than a context so that no helper goroutine is started per
// handshake. The deadline is cleared afterwards.
func Handshake(conn *tls.Conn, timeout time.Duration) error {
	if timeout > 0 {
		conn.SetDeadline(time.Now().Add(timeout))
	}
	err := conn.Handshake()
	if timeout > 0 {
		conn.SetDeadline(time.Time{})
	}
	if err != nil {
		return fmt.Errorf("tls handshake with %s: %w", remote(conn), err)
	}
	return nil
}

func remote(c net.Conn) string {
	if a := c.RemoteAddr(); a != nil {
		return a.String()
	}
	return "?"
}
