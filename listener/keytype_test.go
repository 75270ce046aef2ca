package listener

import (
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"testing"
	"time"

	"github.com/tether-proxy/tether/tlsterm"
)

// TestECDSAAndRSASideBySide pins a listener configured with an ECDSA and an RSA certificate for
// the same names (issue 11): a modern client is served the ECDSA one, a TLS 1.2 client that
// offers only ECDHE-RSA suites the RSA one, and both reach the backend through the tunnel.
func TestECDSAAndRSASideBySide(t *testing.T) {
	t.Parallel()
	be := startBackend(t, "echo", "127.0.0.1:0", echo)
	rsaCert, err := tlsterm.SelfSignedRSA("localhost", "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	rsaPath, rsaKey, err := tlsterm.WritePEM(dir, rsaCert)
	if err != nil {
		t.Fatal(err)
	}
	// The RSA pair first: ECDSA is preferred whatever the order.
	p := startProxy(t, fmt.Sprintf(`
[[listeners]]
name = "wss"
listen = "127.0.0.1:0"
upstream = "app"
preamble = "none"
  [listeners.tls]
  cert = %q
  key = %q
  [[listeners.tls.certs]]
  cert = "%%CERT%%"
  key = "%%KEY%%"
[upstreams.app]
servers = [%q]
`, rsaPath, rsaKey, be.addr()))
	for _, tc := range []struct {
		name   string
		client *tls.Config
		rsa    bool
	}{
		{"modern client", &tls.Config{}, false},
		{"TLS 1.2 ECDHE-RSA only", &tls.Config{MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256}}, true},
	} {
		cfg := tc.client.Clone()
		cfg.ServerName, cfg.InsecureSkipVerify = "localhost", true
		c, err := tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", p.addr("wss"), cfg)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		c.SetDeadline(time.Now().Add(10 * time.Second))
		pub := c.ConnectionState().PeerCertificates[0].PublicKey
		if _, isRSA := pub.(*rsa.PublicKey); isRSA != tc.rsa {
			t.Errorf("%s: served a %T certificate, want RSA %t", tc.name, pub, tc.rsa)
		}
		if _, isEC := pub.(*ecdsa.PublicKey); !tc.rsa && !isEC {
			t.Errorf("%s: served a %T certificate, want ECDSA", tc.name, pub)
		}
		buf := make([]byte, 4)
		if _, err := io.WriteString(c, "ping"); err != nil {
			t.Fatalf("%s: write: %v", tc.name, err)
		}
		if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "ping" {
			t.Fatalf("%s: echo %q, %v", tc.name, buf, err)
		}
		c.Close()
	}
}
