package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/tether-proxy/tether/tlsterm"
)

// certFiles are the PEM files of the benchmark's one ECDSA P-256 certificate.
type certFiles struct {
	Cert, Key string // certificate and key, for tether, nginx and the direct TLS backend
	Both      string // certificate followed by key, as HAProxy's `crt` wants it
}

// writeCert writes a self-signed ECDSA P-256 certificate for localhost and 127.0.0.1 into dir
// (tether's own generator, the one `tether demo` uses). Every TLS row uses it, so every proxy
// signs with the same key type.
func writeCert(dir string) (certFiles, error) {
	cert, err := tlsterm.SelfSigned("localhost", "127.0.0.1")
	if err != nil {
		return certFiles{}, err
	}
	var f certFiles
	if f.Cert, f.Key, err = tlsterm.WritePEM(dir, cert); err != nil {
		return certFiles{}, err
	}
	c, err := os.ReadFile(f.Cert)
	if err != nil {
		return certFiles{}, err
	}
	k, err := os.ReadFile(f.Key)
	if err != nil {
		return certFiles{}, err
	}
	f.Both = filepath.Join(dir, "cert+key.pem")
	if err := os.WriteFile(f.Both, append(c, k...), 0o600); err != nil {
		return certFiles{}, fmt.Errorf("write %s: %w", f.Both, err)
	}
	return f, nil
}
