// Package haproxytest starts a real HAProxy for tether's parity tests: a foreground child
// process with a configuration written by the test and a readiness port, killed when the test
// ends; and the two ends of a choice test: backends that answer with their own name, and a
// client that tells HAProxy (or tether) any source address with a PROXY protocol header.
package haproxytest

import (
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tether-proxy/tether/internal/peertest"
)

// Binary is Debian's HAProxy (package haproxy; bookworm ships 2.6).
const Binary = "/usr/sbin/haproxy"

// Require skips t when HAProxy is missing, or fails it when the environment demands real peers
// (TETHER_REQUIRE_PEERS=1, set by scripts/test).
func Require(t testing.TB) {
	t.Helper()
	if _, err := os.Stat(Binary); err != nil {
		if os.Getenv("TETHER_REQUIRE_PEERS") == "1" {
			t.Fatalf("haproxy is required (TETHER_REQUIRE_PEERS=1): %v", err)
		}
		t.Skipf("haproxy not installed (%v); apt-get install haproxy", err)
	}
}

// Start runs HAProxy in the foreground with global and defaults sections of its own (mode tcp,
// short timeouts), the sections that body returns for nports ports that were free a moment
// before, and a readiness frontend, and waits until it listens. When a port was taken
// meanwhile it retries with new ones. It returns the ports passed to body; HAProxy is killed in
// t.Cleanup.
func Start(t testing.TB, nports int, body func(ports []int) string) []int {
	t.Helper()
	Require(t)
	dir := t.TempDir()
	for attempt := 1; ; attempt++ {
		ports := FreePorts(t, nports+1)
		ready := ports[nports]
		var cfg strings.Builder
		cfg.WriteString("global\n    maxconn 4096\n\ndefaults\n    mode tcp\n    timeout connect 5s\n    timeout client 30s\n    timeout server 30s\n\n")
		cfg.WriteString(body(ports[:nports]))
		fmt.Fprintf(&cfg, "\nfrontend tether_ready\n    bind 127.0.0.1:%d\n    tcp-request connection reject\n", ready)
		path := filepath.Join(dir, "haproxy.cfg")
		if err := os.WriteFile(path, []byte(cfg.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		out, exitErr := peertest.Run(t, "haproxy", exec.Command(Binary, "-db", "-f", path), ready)
		if exitErr == nil {
			return ports[:nports]
		}
		if attempt < 3 && strings.Contains(out, "Address already in use") {
			t.Logf("haproxy: a port was taken meanwhile, retrying")
			continue
		}
		t.Fatalf("haproxy exited: %v\n%s\nconfig:\n%s", exitErr, out, cfg.String())
	}
}

// FreePorts returns n distinct ports that were free on 127.0.0.1 a moment ago.
func FreePorts(t testing.TB, n int) []int { return peertest.FreePorts(t, n) }

// NameServer listens on a loopback port and answers every connection with name, then closes
// it, until the test ends. It returns the address, e.g. "127.0.0.1:40001".
func NameServer(t testing.TB, name string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go answerName(ln, name)
	return ln.Addr().String()
}

// answerName writes name on each connection ln accepts.
func answerName(ln net.Listener, name string) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			c.SetDeadline(time.Now().Add(10 * time.Second))
			io.WriteString(c, name)
		}()
	}
}

// Ask connects to addr, announces src as the client with a PROXY protocol v1 header (TCP4 for
// an IPv4 src, TCP6 otherwise) and returns what the backend it reaches writes before closing:
// with NameServer backends, the name of the server the proxy chose.
func Ask(addr string, src netip.Addr) (string, error) {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	family, dst := "TCP4", "127.0.0.1"
	if !src.Is4() {
		family, dst = "TCP6", "::1"
	}
	if _, err := fmt.Fprintf(c, "PROXY %s %s %s 40000 80\r\n", family, src, dst); err != nil {
		return "", err
	}
	b, err := io.ReadAll(c)
	if err != nil {
		return "", fmt.Errorf("from %s: %w", src, err)
	}
	return string(b), nil
}

// HoldServer is NameServer for tunnels that stay open: it writes name and a newline on each
// connection and keeps it open until the peer closes it or the test ends.
func HoldServer(t testing.TB, name string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() { close(done); ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				io.WriteString(c, name+"\n")
				go func() { <-done; c.Close() }()
				io.Copy(io.Discard, c)
			}()
		}
	}()
	return ln.Addr().String()
}

// AskHold is Ask for a HoldServer backend: it returns the name and the open connection, which
// the caller closes.
func AskHold(addr string, src netip.Addr) (string, net.Conn, error) {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return "", nil, err
	}
	c.SetDeadline(time.Now().Add(10 * time.Second))
	family, dst := "TCP4", "127.0.0.1"
	if !src.Is4() {
		family, dst = "TCP6", "::1"
	}
	if _, err := fmt.Fprintf(c, "PROXY %s %s %s 40000 80\r\n", family, src, dst); err != nil {
		c.Close()
		return "", nil, err
	}
	var line []byte
	b := make([]byte, 1)
	for {
		if _, err := c.Read(b); err != nil {
			c.Close()
			return "", nil, fmt.Errorf("from %s: %w", src, err)
		}
		if b[0] == '\n' {
			break
		}
		line = append(line, b[0])
	}
	c.SetDeadline(time.Time{})
	return string(line), c, nil
}
