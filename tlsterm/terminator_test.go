package tlsterm

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// writePair writes a self-signed certificate for hosts into dir/name{.pem,-key.pem}.
func writePair(t *testing.T, dir, name string, hosts ...string) (Pair, *x509.Certificate) {
	t.Helper()
	c, err := SelfSigned(hosts...)
	if err != nil {
		t.Fatal(err)
	}
	sub := filepath.Join(dir, name)
	if err := os.MkdirAll(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	certPath, keyPath, err := WritePEM(sub, c)
	if err != nil {
		t.Fatal(err)
	}
	return Pair{Cert: certPath, Key: keyPath}, c.Leaf
}

// clientCA makes a CA and a client certificate signed by it, returned as a tls.Certificate.
func clientCA(t *testing.T, dir string) (caPath string, client tls.Certificate) {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	cliKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	cliTmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "client"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, KeyUsage: x509.KeyUsageDigitalSignature}
	cliDER, err := x509.CreateCertificate(rand.Reader, cliTmpl, ca, &cliKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caPath = filepath.Join(dir, "ca.pem")
	os.WriteFile(caPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), 0o644)
	return caPath, tls.Certificate{Certificate: [][]byte{cliDER}, PrivateKey: cliKey}
}

// handshake serves one handshake with cfg and dials it with client; it returns the client's
// connection state and the server's error.
func handshake(t *testing.T, cfg, client *tls.Config) (tls.ConnectionState, error, error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	srvErr := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			srvErr <- err
			return
		}
		defer c.Close()
		tc := tls.Server(c, cfg)
		err = Handshake(tc, 5*time.Second)
		if err == nil {
			tc.Write([]byte{1}) // lets TLS 1.3 clients receive the session ticket
		}
		srvErr <- err
	}()
	conn, cliErr := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", ln.Addr().String(), client)
	var st tls.ConnectionState
	if cliErr == nil {
		conn.SetDeadline(time.Now().Add(5 * time.Second))
		conn.Read(make([]byte, 1))
		st = conn.ConnectionState()
		conn.Close()
	}
	return st, cliErr, <-srvErr
}

func TestTerminatorClientAuth(t *testing.T) {
	dir := t.TempDir()
	site, leaf := writePair(t, dir, "site", "site.example")
	caPath, clientCert := clientCA(t, dir)
	roots := x509.NewCertPool()
	roots.AddCert(leaf)
	tests := []struct {
		name       string
		auth       tls.ClientAuthType
		sendCert   bool
		wantServer bool // handshake succeeds on the server
	}{
		{"required, sent", tls.RequireAndVerifyClientCert, true, true},
		{"required, missing", tls.RequireAndVerifyClientCert, false, false},
		{"optional, missing", tls.VerifyClientCertIfGiven, false, true},
		{"optional, sent", tls.VerifyClientCertIfGiven, true, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g, err := Load(Settings{Certs: []Pair{site}, ClientCA: caPath, ClientAuth: tc.auth})
			if err != nil {
				t.Fatal(err)
			}
			term := NewTerminator(g)
			client := &tls.Config{ServerName: "site.example", RootCAs: roots}
			if tc.sendCert {
				client.Certificates = []tls.Certificate{clientCert}
			}
			_, _, srvErr := handshake(t, term.Config(), client)
			if (srvErr == nil) != tc.wantServer {
				t.Fatalf("server handshake error %v, want success %v", srvErr, tc.wantServer)
			}
		})
	}
}

// TestTerminatorReload: new certificates take effect for new handshakes, and a session from
// before the reload still resumes (the ticket keys live in the listener's lasting Config).
func TestTerminatorReload(t *testing.T) {
	dir := t.TempDir()
	oldPair, oldLeaf := writePair(t, dir, "old", "site.example")
	newPair, newLeaf := writePair(t, dir, "new", "site.example", "other.example")
	g1, err := Load(Settings{Certs: []Pair{oldPair}})
	if err != nil {
		t.Fatal(err)
	}
	term := NewTerminator(g1)
	roots := x509.NewCertPool()
	roots.AddCert(oldLeaf)
	roots.AddCert(newLeaf)
	cache := tls.NewLRUClientSessionCache(8)
	client := &tls.Config{ServerName: "site.example", RootCAs: roots, ClientSessionCache: cache}

	st, err, _ := handshake(t, term.Config(), client)
	if err != nil || !st.PeerCertificates[0].Equal(oldLeaf) {
		t.Fatalf("before reload: %v", err)
	}
	g2, err := Load(Settings{Certs: []Pair{newPair}})
	if err != nil {
		t.Fatal(err)
	}
	term.Use(g2)
	st, err, _ = handshake(t, term.Config(), client)
	if err != nil || !st.DidResume {
		t.Fatalf("after reload: resumed %v, err %v; want the old session to resume", st.DidResume, err)
	}
	fresh := client.Clone()
	fresh.ClientSessionCache = nil
	st, err, _ = handshake(t, term.Config(), fresh)
	if err != nil || !st.PeerCertificates[0].Equal(newLeaf) {
		t.Fatalf("full handshake after reload: %v, want the new certificate", err)
	}

	if g2.stale() {
		t.Fatal("generation stale right after loading")
	}
	time.Sleep(10 * time.Millisecond) // a new mtime even on coarse file systems
	if err := os.WriteFile(newPair.Cert, []byte("rotated"), 0o644); err != nil {
		t.Fatal(err)
	}
	if !g2.stale() {
		t.Fatal("rewriting the certificate file did not make the generation stale")
	}
}

// stale reports whether any of g's files changed on disk since g was loaded.
func (g *Generation) stale() bool {
	for _, st := range g.stamps {
		if stampOf(st.path) != st {
			return true
		}
	}
	return false
}
