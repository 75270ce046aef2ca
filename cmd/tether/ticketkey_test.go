package main

import (
	"crypto/rand"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tether-proxy/tether/internal/nginxtest"
	"github.com/tether-proxy/tether/tlsterm"
)

// writeKey writes size random bytes to dir/name through a rename, as a key rotation job would.
func writeKey(t *testing.T, dir, name string, size int) {
	t.Helper()
	b := make([]byte, size)
	rand.Read(b)
	tmp := filepath.Join(dir, name+".tmp")
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil {
		t.Fatal(err)
	}
}

// resumes dials addr with cache and version, echoes one byte (so a TLS 1.3 client reads its
// session ticket) and reports whether the handshake resumed a cached session.
func resumes(t *testing.T, addr string, cache tls.ClientSessionCache, version uint16) bool {
	t.Helper()
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, &tls.Config{
		InsecureSkipVerify: true, ServerName: "fleet.example", ClientSessionCache: cache,
		MinVersion: version, MaxVersion: version})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write([]byte{'x'}); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(c, make([]byte, 1)); err != nil {
		t.Fatal(err)
	}
	return c.ConnectionState().DidResume
}

// TestTicketKeySharedByTwoProcesses pins session_ticket_key end to end: two tether processes
// reading the same key file resume each other's TLS 1.2 and 1.3 sessions; a key file that
// turns bad (wrong size) is refused on the file watch and on SIGHUP while the running keys
// stay; a good new key file is picked up without a signal; `tether check` names the bad file
// with its position.
func TestTicketKeySharedByTwoProcesses(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cert, err := tlsterm.SelfSigned("fleet.example")
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := tlsterm.WritePEM(dir, cert); err != nil {
		t.Fatal(err)
	}
	writeKey(t, dir, "ticket.key", 80)
	backend := echoBackends(t, 1)[0]
	ports := nginxtest.FreePorts(t, 2)
	var procs []*process
	var addrs []string
	for i, port := range ports {
		cfg := writeFile(t, dir, fmt.Sprintf("box%d.toml", i), fmt.Sprintf(`
[[listeners]]
name = "l"
listen = "127.0.0.1:%d"
upstream = "echo"
preamble = "none"
  [listeners.tls]
  cert = "cert.pem"
  key = "key.pem"
  session_ticket_key = ["ticket.key"]
[upstreams.echo]
servers = [%q]
`, port, backend))
		p := start(t, "run", "-c", cfg)
		p.waitOutput(t, `"msg":"listening"`)
		procs = append(procs, p)
		addrs = append(addrs, fmt.Sprintf("127.0.0.1:%d", port))
	}
	crossResume := func(version uint16) bool {
		cache := tls.NewLRUClientSessionCache(4)
		if resumes(t, addrs[0], cache, version) {
			t.Fatal("the first handshake of a fresh client resumed")
		}
		return resumes(t, addrs[1], cache, version)
	}
	for _, v := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		if !crossResume(v) {
			t.Fatalf("%s: a session from process 1 did not resume on process 2", tls.VersionName(v))
		}
	}

	// A key file cut short: both watchers refuse it, SIGHUP too, and the old key keeps working.
	if err := os.WriteFile(filepath.Join(dir, "ticket.key"), make([]byte, 79), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, p := range procs {
		p.waitOutput(t, "reload after a certificate change rejected")
	}
	procs[1].cmd.Process.Signal(syscall.SIGHUP)
	procs[1].waitOutput(t, "reload rejected; the running configuration stays")
	if !strings.Contains(procs[1].output(), "must be 80 or 48 bytes") {
		t.Fatalf("the rejection does not say why:\n%s", procs[1].output())
	}
	if !crossResume(tls.VersionTLS13) {
		t.Fatal("after a rejected key file the running key no longer resumes across processes")
	}
	code, _, stderr := runTether(t, "", "check", "-c", filepath.Join(dir, "box0.toml"))
	if code != 1 || !strings.Contains(stderr, "box0.toml:10: listeners[0].tls.session_ticket_key[0]: session ticket key") ||
		!strings.Contains(stderr, "is 79 bytes") {
		t.Fatalf("tether check: exit %d, stderr:\n%s", code, stderr)
	}

	// A good new key: both reload on their own and share the new key; a session sealed with
	// the old key (no longer listed) costs a full handshake.
	sealedWithOld := tls.NewLRUClientSessionCache(4)
	resumes(t, addrs[0], sealedWithOld, tls.VersionTLS12)
	writeKey(t, dir, "ticket.key", 48)
	for _, p := range procs {
		p.waitOutput(t, "configuration reloaded")
	}
	if resumes(t, addrs[1], sealedWithOld, tls.VersionTLS12) {
		t.Fatal("a session sealed with the replaced key still resumes: the new key file was not loaded")
	}
	if !crossResume(tls.VersionTLS12) {
		t.Fatal("after the new key file was picked up, sessions do not resume across processes")
	}
}
