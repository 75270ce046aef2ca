package tlsterm

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"net"
	"os"
	"os/exec"
	"testing"
	"time"
)

// sideBySide returns a Store with an RSA and an ECDSA certificate for the same names, RSA
// configured first (so the default is RSA), plus an ECDSA-only certificate for another name.
func sideBySide(t *testing.T) (s *Store, rsaLeaf, ecLeaf, otherLeaf *x509.Certificate) {
	t.Helper()
	r, err := SelfSignedRSA("a.example", "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	e, err := SelfSigned("a.example", "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	o, err := SelfSigned("b.example")
	if err != nil {
		t.Fatal(err)
	}
	s = &Store{}
	if err := s.Set([]tls.Certificate{r, e, o}); err != nil {
		t.Fatal(err)
	}
	return s, r.Leaf, e.Leaf, o.Leaf
}

// TestKeyTypeSideBySide pins the choice between an ECDSA and an RSA certificate for the same
// names by what the client's ClientHello supports, over real handshakes: every client that can
// verify ECDSA gets ECDSA (even though RSA is configured first and is the default), a TLS 1.2
// client offering only ECDHE-RSA suites or no P-256 gets RSA, with SNI, without it and with an
// unknown name; a certificate alone for its name is served whatever the client prefers.
func TestKeyTypeSideBySide(t *testing.T) {
	store, rsaLeaf, ecLeaf, otherLeaf := sideBySide(t)
	rsaOnly := []uint16{tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256}
	tests := []struct {
		name   string
		client *tls.Config
		want   *x509.Certificate
	}{
		{name: "modern client gets ECDSA", client: &tls.Config{ServerName: "a.example"}, want: ecLeaf},
		{name: "modern client without SNI gets the default names' ECDSA", client: &tls.Config{}, want: ecLeaf},
		{name: "classical P-256 client gets ECDSA", client: &tls.Config{ServerName: "a.example", CurvePreferences: []tls.CurveID{tls.CurveP256}}, want: ecLeaf},
		{name: "TLS 1.2 with default suites gets ECDSA", client: &tls.Config{ServerName: "a.example", MaxVersion: tls.VersionTLS12}, want: ecLeaf},
		{name: "TLS 1.2 with RSA suites only gets RSA", client: &tls.Config{ServerName: "a.example", MaxVersion: tls.VersionTLS12, CipherSuites: rsaOnly}, want: rsaLeaf},
		{name: "TLS 1.2 RSA suites without SNI gets RSA", client: &tls.Config{MaxVersion: tls.VersionTLS12, CipherSuites: rsaOnly}, want: rsaLeaf},
		{name: "TLS 1.2 RSA suites with unknown SNI gets default RSA", client: &tls.Config{ServerName: "nope.example", MaxVersion: tls.VersionTLS12, CipherSuites: rsaOnly}, want: rsaLeaf},
		{name: "TLS 1.2 without P-256 gets RSA", client: &tls.Config{ServerName: "a.example", MaxVersion: tls.VersionTLS12, CurvePreferences: []tls.CurveID{tls.X25519}}, want: rsaLeaf},
		{name: "single certificate for its name", client: &tls.Config{ServerName: "b.example"}, want: otherLeaf},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			addr, srv := serve(t, ServerConfig(store))
			cfg := tc.client.Clone()
			cfg.InsecureSkipVerify = true
			conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, cfg)
			if err != nil {
				t.Fatalf("dial: %v", err)
			}
			defer conn.Close()
			if err := <-srv; err != nil {
				t.Fatalf("server: %v", err)
			}
			if got := conn.ConnectionState().PeerCertificates[0]; !got.Equal(tc.want) {
				t.Fatalf("got a %s certificate for %v, want %s for %v", keyType(got), got.DNSNames, keyType(tc.want), tc.want.DNSNames)
			}
		})
	}
}

// TestKeyTypeBySignatureScheme pins the TLS 1.3 choice by signature_algorithms, which Go's
// client cannot narrow: a ClientHello offering only RSA schemes gets the RSA certificate, one
// offering ECDSA gets ECDSA, and one offering neither gets the preferred one (and fails
// its handshake as it would have anyway).
func TestKeyTypeBySignatureScheme(t *testing.T) {
	store, rsaLeaf, ecLeaf, _ := sideBySide(t)
	tls13 := []uint16{tls.VersionTLS13}
	tests := []struct {
		name    string
		schemes []tls.SignatureScheme
		want    *x509.Certificate
	}{
		{"RSA-PSS and PKCS#1 only", []tls.SignatureScheme{tls.PSSWithSHA256, tls.PKCS1WithSHA256}, rsaLeaf},
		{"ECDSA and RSA", []tls.SignatureScheme{tls.ECDSAWithP256AndSHA256, tls.PSSWithSHA256}, ecLeaf},
		{"RSA first, ECDSA too", []tls.SignatureScheme{tls.PSSWithSHA256, tls.ECDSAWithP256AndSHA256}, ecLeaf},
		{"Ed25519 only", []tls.SignatureScheme{tls.Ed25519}, ecLeaf},
	}
	for _, tc := range tests {
		for _, sni := range []string{"a.example", ""} {
			hello := &tls.ClientHelloInfo{ServerName: sni, SupportedVersions: tls13, SignatureSchemes: tc.schemes,
				SupportedCurves: []tls.CurveID{tls.X25519, tls.CurveP256}, CipherSuites: []uint16{tls.TLS_AES_128_GCM_SHA256}}
			got, err := store.GetCertificate(hello)
			if err != nil {
				t.Fatalf("%s, SNI %q: %v", tc.name, sni, err)
			}
			if !got.Leaf.Equal(tc.want) {
				t.Errorf("%s, SNI %q: got %s, want %s", tc.name, sni, keyType(got.Leaf), keyType(tc.want))
			}
		}
	}
}

// TestKeyTypeOpenSSLClient pins the choice against a real peer: OpenSSL's s_client limited to
// RSA signature algorithms gets the RSA certificate, with its defaults the ECDSA one.
func TestKeyTypeOpenSSLClient(t *testing.T) {
	bin, err := exec.LookPath("openssl")
	if err != nil {
		if os.Getenv("TETHER_REQUIRE_PEERS") == "1" {
			t.Fatalf("openssl is required (TETHER_REQUIRE_PEERS=1): %v", err)
		}
		t.Skipf("openssl not installed (%v); apt-get install openssl", err)
	}
	store, rsaLeaf, ecLeaf, _ := sideBySide(t)
	tests := []struct {
		name string
		args []string
		want *x509.Certificate
	}{
		{"defaults", nil, ecLeaf},
		{"TLS 1.3 RSA signature algorithms only", []string{"-tls1_3", "-sigalgs", "rsa_pss_rsae_sha256:rsa_pss_rsae_sha384"}, rsaLeaf},
		{"TLS 1.2 RSA signature algorithms only", []string{"-tls1_2", "-sigalgs", "RSA+SHA256:rsa_pss_rsae_sha256"}, rsaLeaf},
		{"TLS 1.2 ECDHE-RSA ciphers only", []string{"-tls1_2", "-cipher", "ECDHE-RSA-AES128-GCM-SHA256"}, rsaLeaf},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			addr, srv := serve(t, ServerConfig(store))
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			args := append([]string{"s_client", "-connect", addr, "-servername", "a.example"}, tc.args...)
			out, err := exec.CommandContext(ctx, bin, args...).CombinedOutput() // stdin is empty: it quits
			if serr := <-srv; serr != nil {
				t.Fatalf("server: %v\nopenssl %v: %v\n%s", serr, args, err, out)
			}
			block, _ := pem.Decode(out[max(0, bytes.Index(out, []byte("-----BEGIN CERTIFICATE-----"))):])
			if block == nil {
				t.Fatalf("no certificate in the output of openssl %v: %v\n%s", args, err, out)
			}
			got, err := x509.ParseCertificate(block.Bytes)
			if err != nil {
				t.Fatal(err)
			}
			if !got.Equal(tc.want) {
				t.Fatalf("openssl %v got %s, want %s", args, keyType(got), keyType(tc.want))
			}
		})
	}
}

func keyType(c *x509.Certificate) string {
	switch c.PublicKey.(type) {
	case *ecdsa.PublicKey:
		return "ECDSA"
	case *rsa.PublicKey:
		return "RSA"
	}
	return c.PublicKeyAlgorithm.String()
}
