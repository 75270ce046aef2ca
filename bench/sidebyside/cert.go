package main

import (
	"crypto/tls"
	"fmt"
	"os"
	"path/filepath"

	"github.com/tether-proxy/tether/tlsterm"
)

// pemPair is one certificate and its key as PEM files.
type pemPair struct {
	Cert, Key string // certificate and key, for tether, nginx and the direct TLS backends
	Both      string // certificate followed by key, as HAProxy's `crt` wants it
}

// certFiles are the benchmark's two certificates, for the same names: every TLS row but the
// RSA one uses ECDSA, so every proxy signs with the same key type.
type certFiles struct {
	ECDSA pemPair // ECDSA P-256
	RSA   pemPair // RSA-2048: the tls-handshake-rsa row
}

// writeCert writes self-signed ECDSA P-256 and RSA-2048 certificates for localhost and
// 127.0.0.1 into dir/ecdsa and dir/rsa (tether's own generators; `tether demo` uses the ECDSA
// one).
func writeCert(dir string) (certFiles, error) {
	ec, err := tlsterm.SelfSigned("localhost", "127.0.0.1")
	if err != nil {
		return certFiles{}, err
	}
	rsa, err := tlsterm.SelfSignedRSA("localhost", "127.0.0.1")
	if err != nil {
		return certFiles{}, err
	}
	var f certFiles
	if f.ECDSA, err = writePair(filepath.Join(dir, "ecdsa"), ec); err != nil {
		return certFiles{}, err
	}
	if f.RSA, err = writePair(filepath.Join(dir, "rsa"), rsa); err != nil {
		return certFiles{}, err
	}
	return f, nil
}

// writePair writes cert as cert.pem, key.pem and cert+key.pem into dir, which it creates.
func writePair(dir string, cert tls.Certificate) (pemPair, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return pemPair{}, err
	}
	var p pemPair
	var err error
	if p.Cert, p.Key, err = tlsterm.WritePEM(dir, cert); err != nil {
		return pemPair{}, err
	}
	c, err := os.ReadFile(p.Cert)
	if err != nil {
		return pemPair{}, err
	}
	k, err := os.ReadFile(p.Key)
	if err != nil {
		return pemPair{}, err
	}
	p.Both = filepath.Join(dir, "cert+key.pem")
	if err := os.WriteFile(p.Both, append(c, k...), 0o600); err != nil {
		return pemPair{}, fmt.Errorf("write %s: %w", p.Both, err)
	}
	return p, nil
}
