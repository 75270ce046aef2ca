//go:build linux

package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/tether-proxy/tether/conf"
	"github.com/tether-proxy/tether/tlsterm"
)

// writeCert writes a self-signed certificate into dir and returns its files.
func writeCert(t *testing.T, dir string) (cert, key string) {
	t.Helper()
	c, err := tlsterm.SelfSigned("localhost")
	if err != nil {
		t.Fatal(err)
	}
	cert, key, err = tlsterm.WritePEM(dir, c)
	if err != nil {
		t.Fatal(err)
	}
	return cert, key
}

// TestConfigsAreValid pins that the configurations the soak writes load: tether's through
// package conf, nginx's through `nginx -t` (skipped without nginx unless TETHER_REQUIRE_PEERS=1).
func TestConfigsAreValid(t *testing.T) {
	dir := t.TempDir()
	cert, key := writeCert(t, dir)
	backends := []string{"127.0.1.1:7001", "127.0.1.2:7002"}
	servers := []string{strconv.Quote(backends[0]), strconv.Quote(backends[1])}
	cfg, err := conf.Parse(filepath.Join(dir, "tether.toml"), []byte(tetherConfig(8443, cert, key, servers)))
	if err != nil {
		t.Fatalf("tether configuration: %v", err)
	}
	if l := cfg.Listeners[0]; !l.ReusePort || l.TLS == nil || l.Preamble != conf.PreambleWebSocket {
		t.Fatalf("listener %+v: want reuseport, TLS and the websocket preamble", l)
	}
	for _, f := range []string{nginxBinary, streamModule} {
		if _, err := os.Stat(f); err != nil {
			if os.Getenv("TETHER_REQUIRE_PEERS") == "1" {
				t.Fatalf("nginx is required (TETHER_REQUIRE_PEERS=1): %v", err)
			}
			t.Skipf("nginx not installed: %v", err)
		}
	}
	nginxConf := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(nginxConf, []byte(nginxConfig(dir, 8443, 3, 20000, os.Geteuid() == 0, cert, key, backends)), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(nginxBinary, "-t", "-p", dir, "-c", nginxConf, "-e", filepath.Join(dir, "error.log")).CombinedOutput(); err != nil {
		t.Fatalf("nginx -t: %v\n%s", err, out)
	}
}

// TestProcParsing pins the /proc readers on the formats proc(5) documents, including a
// command name with spaces and parentheses.
func TestProcParsing(t *testing.T) {
	stat := []byte("4242 (tether (x) y) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 150 0 0 20 0 9 0 1 2 3")
	if ppid, ok := statField(stat, 4); !ok || ppid != "1" {
		t.Errorf("ppid %q %v", ppid, ok)
	}
	if cpu, err := statCPU(stat); err != nil || cpu != 4*time.Second {
		t.Errorf("cpu %v %v, want 4s (400 ticks)", cpu, err)
	}
	if _, err := statCPU([]byte("1 (x) S 1")); err == nil {
		t.Error("a short stat line was read")
	}
	status := []byte("Name:\ttether\nVmRSS:\t   81234 kB\nThreads:\t9\n")
	if rss, err := statusKB(status, "VmRSS:"); err != nil || rss != 81234<<10 {
		t.Errorf("rss %d %v", rss, err)
	}
	if _, err := statusKB([]byte("VmRSS:\t12 MB\n"), "VmRSS:"); err == nil {
		t.Error("a line in another unit was read")
	}
}

// TestProxyFDs pins the open-file budget: two per tunnel, plus room for an uneven reuseport
// split when several processes share the port.
func TestProxyFDs(t *testing.T) {
	if got := proxyFDs(9000, 1); got != 2*9000+128 {
		t.Errorf("one process: %d", got)
	}
	if got := proxyFDs(9000, 12); got <= 2*9000+128 || got > 19000 {
		t.Errorf("12 processes of 9,000: %d, want a few hundred more than 18,128 and within 19,000", got)
	}
}
