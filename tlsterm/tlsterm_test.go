package tlsterm

import (
	"crypto/tls"
	"crypto/x509"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// serve accepts one connection on a loopback listener and runs the server handshake with cfg.
func serve(t *testing.T, cfg *tls.Config) (addr string, result <-chan error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	ch := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			ch <- err
			return
		}
		defer c.Close()
		ch <- Handshake(tls.Server(c, cfg), 5*time.Second)
	}()
	return ln.Addr().String(), ch
}

func TestHandshakePolicy(t *testing.T) {
	a, err := SelfSigned("a.example", "*.wild.example", "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	b, err := SelfSigned("b.example")
	if err != nil {
		t.Fatal(err)
	}
	var store Store
	if err := store.Set([]tls.Certificate{a, b}); err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(a.Leaf)
	pool.AddCert(b.Leaf)

	tests := []struct {
		name     string
		client   *tls.Config
		wantLeaf *x509.Certificate // nil: the handshake must fail
		wantErr  string            // substring of the client error when it fails
	}{
		{name: "exact SNI picks second cert", client: &tls.Config{ServerName: "b.example"}, wantLeaf: b.Leaf},
		{name: "exact SNI picks first cert", client: &tls.Config{ServerName: "A.example"}, wantLeaf: a.Leaf},
		{name: "wildcard one label deep", client: &tls.Config{ServerName: "x.wild.example", InsecureSkipVerify: true}, wantLeaf: a.Leaf},
		{name: "unknown SNI gets default", client: &tls.Config{ServerName: "nope.example", InsecureSkipVerify: true}, wantLeaf: a.Leaf},
		{name: "TLS 1.2 AEAD accepted", client: &tls.Config{ServerName: "b.example", MaxVersion: tls.VersionTLS12}, wantLeaf: b.Leaf},
		{name: "TLS 1.1 refused", client: &tls.Config{ServerName: "b.example", MaxVersion: tls.VersionTLS11, MinVersion: tls.VersionTLS10}, wantErr: "protocol version"},
		{name: "CBC-only client refused", client: &tls.Config{ServerName: "b.example", MaxVersion: tls.VersionTLS12,
			CipherSuites: []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA}}, wantErr: "handshake failure"},
		{name: "h2-only ALPN refused", client: &tls.Config{ServerName: "b.example", NextProtos: []string{"h2"}}, wantErr: "no application protocol"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			addr, srv := serve(t, ServerConfig(&store))
			cfg := tc.client.Clone()
			cfg.RootCAs = pool
			conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, cfg)
			if tc.wantLeaf == nil {
				if err == nil {
					conn.Close()
					t.Fatal("handshake succeeded, want failure")
				}
				if !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("client error %q, want it to contain %q", err, tc.wantErr)
				}
				if serr := <-srv; serr == nil {
					t.Fatal("server handshake succeeded, want failure")
				}
				return
			}
			if err != nil {
				t.Fatalf("dial: %v", err)
			}
			defer conn.Close()
			if err := <-srv; err != nil {
				t.Fatalf("server: %v", err)
			}
			st := conn.ConnectionState()
			if !st.PeerCertificates[0].Equal(tc.wantLeaf) {
				t.Fatalf("got certificate for %v, want %v", st.PeerCertificates[0].DNSNames, tc.wantLeaf.DNSNames)
			}
		})
	}
}

func TestHandshakeTimeout(t *testing.T) {
	c, err := SelfSigned("localhost")
	if err != nil {
		t.Fatal(err)
	}
	var store Store
	if err := store.Set([]tls.Certificate{c}); err != nil {
		t.Fatal(err)
	}
	server, client := net.Pipe()
	defer client.Close()
	start := time.Now()
	err = Handshake(tls.Server(server, ServerConfig(&store)), 100*time.Millisecond)
	if err == nil {
		t.Fatal("handshake with a silent client succeeded")
	}
	if time.Since(start) > 5*time.Second {
		t.Fatalf("handshake took %v, want it bounded by the timeout", time.Since(start))
	}
}

func TestLoadFilesKeepsOldOnError(t *testing.T) {
	dir := t.TempDir()
	c, err := SelfSigned("old.example")
	if err != nil {
		t.Fatal(err)
	}
	certPath, keyPath, err := WritePEM(dir, c)
	if err != nil {
		t.Fatal(err)
	}
	var store Store
	if err := store.LoadFiles([]Pair{{Cert: certPath, Key: keyPath}}); err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(dir, "missing.pem")
	err = store.LoadFiles([]Pair{{Cert: bad, Key: keyPath}})
	if err == nil || !strings.Contains(err.Error(), bad) {
		t.Fatalf("LoadFiles with a missing file: %v, want an error naming %s", err, bad)
	}
	got, err := store.GetCertificate(&tls.ClientHelloInfo{ServerName: "old.example"})
	if err != nil || got.Leaf.DNSNames[0] != "old.example" {
		t.Fatalf("after a failed reload got %v, %v; want the old certificate", got, err)
	}
	if err := os.WriteFile(certPath, []byte("garbage"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := store.LoadFiles([]Pair{{Cert: certPath, Key: keyPath}}); err == nil {
		t.Fatal("LoadFiles accepted a garbage certificate")
	}
}
