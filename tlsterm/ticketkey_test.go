package tlsterm

import (
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tether-proxy/tether/internal/nginxtest"
)

// writeTicketKey writes size random bytes to dir/name, as `openssl rand 80 > name` does.
func writeTicketKey(t *testing.T, dir, name string, size int) string {
	t.Helper()
	b := make([]byte, size)
	rand.Read(b)
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestTicketKeysResumeAcrossTerminators pins what a fleet relies on: two listeners that share
// nothing but a key file (as two processes or two boxes do) resume each other's sessions, in
// TLS 1.2 and 1.3; a rotated list (new key first, old key after) still resumes sessions sealed
// with the old key, and new tickets are sealed with the new key only. Without key files each
// listener keeps its own keys, so nothing resumes across them.
func TestTicketKeysResumeAcrossTerminators(t *testing.T) {
	dir := t.TempDir()
	site, leaf := writePair(t, dir, "site", "site.example")
	oldKey := writeTicketKey(t, dir, "old.key", 80)
	newKey := writeTicketKey(t, dir, "new.key", 48)
	roots := x509.NewCertPool()
	roots.AddCert(leaf)
	term := func(keys ...string) *Terminator {
		g, err := Load(Settings{Certs: []Pair{site}, TicketKeys: keys})
		if err != nil {
			t.Fatal(err)
		}
		return NewTerminator(g)
	}
	for _, version := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		t.Run(tls.VersionName(version), func(t *testing.T) {
			tests := []struct {
				name        string
				first, then *Terminator
				want        bool // the second handshake resumes the first's session
			}{
				{"same key file", term(oldKey), term(oldKey), true},
				{"rotated: old key still decrypts", term(oldKey), term(newKey, oldKey), true},
				{"rotated: new key encrypts", term(newKey, oldKey), term(newKey), true},
				{"old key dropped", term(oldKey), term(newKey), false},
				{"no key files: per-listener keys", term(), term(), false},
			}
			for _, tc := range tests {
				t.Run(tc.name, func(t *testing.T) {
					client := &tls.Config{ServerName: "site.example", RootCAs: roots, MinVersion: version, MaxVersion: version,
						ClientSessionCache: tls.NewLRUClientSessionCache(4)}
					if st, err, srvErr := handshake(t, tc.first.Config(), client); err != nil || srvErr != nil || st.DidResume {
						t.Fatalf("first handshake: resumed %v, client %v, server %v", st.DidResume, err, srvErr)
					}
					st, err, srvErr := handshake(t, tc.then.Config(), client)
					if err != nil || srvErr != nil {
						t.Fatalf("second handshake: client %v, server %v", err, srvErr)
					}
					if st.DidResume != tc.want {
						t.Fatalf("second handshake resumed %v, want %v", st.DidResume, tc.want)
					}
				})
			}
		})
	}
}

// TestReadTicketKeysRefuses pins the key-file rule nginx's ssl_session_ticket_key applies
// (exactly 80 or 48 bytes) and that unreadable files are errors naming the file.
func TestReadTicketKeysRefuses(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name    string
		path    string
		wantErr string // "" accepts
	}{
		{"80 bytes", writeTicketKey(t, dir, "80", 80), ""},
		{"48 bytes", writeTicketKey(t, dir, "48", 48), ""},
		{"empty", writeTicketKey(t, dir, "0", 0), "is 0 bytes"},
		{"47 bytes", writeTicketKey(t, dir, "47", 47), "must be 80 or 48 bytes"},
		{"79 bytes", writeTicketKey(t, dir, "79", 79), "is 79 bytes"},
		{"81 bytes", writeTicketKey(t, dir, "81", 81), "more than 80 bytes"},
		{"a PEM-sized file", writeTicketKey(t, dir, "big", 4096), "more than 80 bytes"},
		{"missing", filepath.Join(dir, "nope"), "no such file"},
		{"a directory", dir, "not a regular file"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			keys, err := ReadTicketKeys([]string{tc.path})
			if tc.wantErr == "" {
				if err != nil || len(keys) != 1 {
					t.Fatalf("got %d keys, %v", len(keys), err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
			}
		})
	}
	site, _ := writePair(t, dir, "site", "site.example")
	_, err := Load(Settings{Certs: []Pair{site}, TicketKeys: []string{filepath.Join(dir, "80"), filepath.Join(dir, "81")}})
	if err == nil || !strings.Contains(err.Error(), "81") {
		t.Fatalf("Load with a bad second key file: %v, want an error naming it", err)
	}
}

// TestTicketKeyFilesMakeStale: rewriting a key file makes the generation stale, which is what
// makes `tether run` reload on a key rotation without a signal.
func TestTicketKeyFilesMakeStale(t *testing.T) {
	dir := t.TempDir()
	site, _ := writePair(t, dir, "site", "site.example")
	key := writeTicketKey(t, dir, "ticket.key", 80)
	g, err := Load(Settings{Certs: []Pair{site}, TicketKeys: []string{key}})
	if err != nil {
		t.Fatal(err)
	}
	if g.stale() || !strings.Contains(g.Files(), key) {
		t.Fatalf("fresh generation: stale %v, files %q", g.stale(), g.Files())
	}
	if err := os.WriteFile(key, make([]byte, 48), 0o600); err != nil {
		t.Fatal(err)
	}
	if !g.stale() {
		t.Fatal("rewriting the key file did not make the generation stale")
	}
}

// TestTicketKeyDistinctFiles: different key files give different keys, the same content the
// same key (what lets two boxes agree).
func TestTicketKeyDistinctFiles(t *testing.T) {
	a := make([]byte, 80)
	b := make([]byte, 80)
	b[79] = 1
	ka, _ := ParseTicketKey("a", a)
	kb, _ := ParseTicketKey("b", b)
	ka2, _ := ParseTicketKey("a2", a)
	if ka == kb || ka != ka2 {
		t.Fatal("key derivation does not follow the file content")
	}
}

// TestTicketKeyNotSharedWithNginx pins what the README says about nginx: with the same key
// file, nginx (OpenSSL) and tether (Go) do not resume each other's sessions, in either
// direction and either TLS version, because they seal different things; the client just pays
// a full handshake, nothing fails.
func TestTicketKeyNotSharedWithNginx(t *testing.T) {
	dir := t.TempDir()
	site, leaf := writePair(t, dir, "site", "site.example")
	key := writeTicketKey(t, dir, "ticket.key", 80)
	ports := nginxtest.Start(t, 1, func(ports []int) string {
		return fmt.Sprintf(`    server {
        listen 127.0.0.1:%d ssl;
        ssl_certificate %s;
        ssl_certificate_key %s;
        ssl_protocols TLSv1.2 TLSv1.3;
        ssl_session_tickets on;
        ssl_session_ticket_key %s;
        return "x";
    }
`, ports[0], site.Cert, site.Key, key)
	})
	nginxAddr := fmt.Sprintf("127.0.0.1:%d", ports[0])
	g, err := Load(Settings{Certs: []Pair{site}, TicketKeys: []string{key}})
	if err != nil {
		t.Fatal(err)
	}
	term := NewTerminator(g)
	roots := x509.NewCertPool()
	roots.AddCert(leaf)
	nginx := func(t *testing.T, client *tls.Config) tls.ConnectionState {
		t.Helper()
		c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", nginxAddr, client)
		if err != nil {
			t.Fatalf("nginx: %v", err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(5 * time.Second))
		io.ReadAll(c) // "x", and a TLS 1.3 client reads its ticket on the way
		return c.ConnectionState()
	}
	for _, version := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		t.Run(tls.VersionName(version), func(t *testing.T) {
			newClient := func() *tls.Config {
				return &tls.Config{ServerName: "site.example", RootCAs: roots, MinVersion: version, MaxVersion: version,
					ClientSessionCache: tls.NewLRUClientSessionCache(4)}
			}
			// nginx's own resumption works: the key file and the client are fine.
			client := newClient()
			nginx(t, client)
			if !nginx(t, client).DidResume {
				t.Fatal("nginx did not resume its own session")
			}
			st, err, srvErr := handshake(t, term.Config(), client)
			if err != nil || srvErr != nil || st.DidResume {
				t.Fatalf("nginx's session at tether: resumed %v, client %v, server %v; want a full handshake", st.DidResume, err, srvErr)
			}
			client = newClient()
			if _, err, _ := handshake(t, term.Config(), client); err != nil {
				t.Fatal(err)
			}
			if nginx(t, client).DidResume {
				t.Fatal("tether's session resumed at nginx")
			}
		})
	}
}
