package e2e

import (
	"net"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tether-proxy/tether/tlsterm"
)

// testCert writes a self-signed certificate for localhost and 127.0.0.1 into dir as cert.pem
// and key.pem (the names the tether configurations below use) and returns the certificate's
// path, which clients use as their trusted CA.
func testCert(t testing.TB, dir string) string {
	t.Helper()
	cert, err := tlsterm.SelfSigned("localhost", "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	certPath, _, err := tlsterm.WritePEM(dir, cert)
	if err != nil {
		t.Fatal(err)
	}
	return certPath
}

// startTether runs `tether run -c FILE` like a user does, with the configuration that config
// returns for ports (one per listener) written to dir, next to the certificate files. It
// returns once tether listens on all of them, with the ports and the configuration's path.
func startTether(t testing.TB, dir string, listeners int, config func(ports []int) string) (*child, []int, string) {
	t.Helper()
	return launchTether(t, tetherBinary(t), dir, listeners, listeners, config)
}

// launchTether is startTether running binary with config written for ports free ports, and
// waiting for listeners listening lines (and for the admin endpoint's line when the ports
// outnumber the listeners: the configuration then has an [admin] table on one of them).
func launchTether(t testing.TB, binary, dir string, ports, listeners int, config func(ports []int) string) (*child, []int, string) {
	t.Helper()
	path := filepath.Join(dir, "tether.toml")
	command := func(ports []int) *exec.Cmd {
		writeFile(t, dir, "tether.toml", config(ports))
		return exec.Command(binary, "run", "-c", path)
	}
	p, got := startOnFreePorts(t, "tether", ports, command, "its listening lines", func(out string) bool {
		return strings.Count(out, `"msg":"listening"`) >= listeners &&
			(ports == listeners || strings.Contains(out, `"msg":"admin listening"`))
	})
	// The binary is race-enabled when the tests are: a race it reports fails the test.
	t.Cleanup(func() {
		if out := p.output(); strings.Contains(out, "WARNING: DATA RACE") {
			t.Errorf("tether reported a data race:\n%s", tail(out, 8000))
		}
	})
	return p, got, path
}

// lookup asks `tether lookup` where a connection from each address goes, as a map from client
// address to backend address.
func lookup(t testing.TB, config, listener string, addrs []string) map[string]string {
	t.Helper()
	cmd := exec.Command(tetherBinary(t), append([]string{"lookup", "-c", config, "-l", listener}, addrs...)...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("tether lookup: %v\n%s", err, stderr.String())
	}
	got := make(map[string]string)
	for line := range strings.Lines(string(out)) {
		f := strings.Fields(line)
		if len(f) < 2 {
			t.Fatalf("tether lookup printed %q", line)
		}
		got[f[0]] = f[1]
	}
	if len(got) != len(addrs) {
		t.Fatalf("tether lookup answered for %d of %d addresses:\n%s", len(got), len(addrs), out)
	}
	return got
}

// listenLoopback listens on a free port of 127.0.0.1 until the test ends.
func listenLoopback(t testing.TB) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}
