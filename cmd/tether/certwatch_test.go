package main

import (
	"crypto/tls"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/tether-proxy/tether/tlsterm"
)

// TestCertificateFilesAreWatched: replacing the certificate files on disk is enough; the next
// handshake gets the new certificate, no signal needed.
func TestCertificateFilesAreWatched(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	oldCert, err := tlsterm.SelfSigned("old.example")
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := tlsterm.WritePEM(dir, oldCert); err != nil {
		t.Fatal(err)
	}
	backends := echoBackends(t, 1)
	cfg := writeFile(t, dir, "tether.toml", fmt.Sprintf(`
[[listeners]]
name = "l"
listen = "127.0.0.1:0"
upstream = "echo"
preamble = "none"
  [listeners.tls]
  cert = "cert.pem"
  key = "key.pem"
[upstreams.echo]
servers = [%q]
`, backends[0]))
	p := start(t, "run", "-c", cfg)
	addr := p.loggedAddr(t, "listening", "l")
	served := func() string {
		c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp",
			addr, &tls.Config{InsecureSkipVerify: true})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		return c.ConnectionState().PeerCertificates[0].DNSNames[0]
	}
	if got := served(); got != "old.example" {
		t.Fatalf("serving %s", got)
	}
	newCert, err := tlsterm.SelfSigned("new.example")
	if err != nil {
		t.Fatal(err)
	}
	staging := filepath.Join(dir, "staging")
	os.Mkdir(staging, 0o755)
	if _, _, err := tlsterm.WritePEM(staging, newCert); err != nil {
		t.Fatal(err)
	}
	// Replace both files atomically, as certbot and friends do.
	for _, f := range []string{"key.pem", "cert.pem"} {
		if err := os.Rename(filepath.Join(staging, f), filepath.Join(dir, f)); err != nil {
			t.Fatal(err)
		}
	}
	p.waitOutput(t, "certificate files changed on disk; reloading")
	p.waitOutput(t, "configuration reloaded")
	if got := served(); got != "new.example" {
		t.Fatalf("after replacing the files: serving %s, want new.example", got)
	}
}
