// Package nginxtest starts a real nginx for tether's parity tests: a foreground child process
// with a private prefix directory, a `stream {}` configuration written by the test, and a
// readiness port, killed when the test ends.
package nginxtest

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tether-proxy/tether/internal/peertest"
)

// Debian's nginx and its stream module (packages nginx and libnginx-mod-stream).
const (
	Binary       = "/usr/sbin/nginx"
	StreamModule = "/usr/lib/nginx/modules/ngx_stream_module.so"
)

// Require skips t when nginx or its stream module is missing, or fails it when the environment
// demands real peers (TETHER_REQUIRE_PEERS=1, set by scripts/test).
func Require(t testing.TB) {
	t.Helper()
	for _, f := range []string{Binary, StreamModule} {
		if _, err := os.Stat(f); err != nil {
			if os.Getenv("TETHER_REQUIRE_PEERS") == "1" {
				t.Fatalf("nginx is required (TETHER_REQUIRE_PEERS=1): %v", err)
			}
			t.Skipf("nginx not installed (%v); apt-get install nginx libnginx-mod-stream", err)
		}
	}
}

// Start runs nginx with the `stream {}` body that streamBody returns for nports ports that
// were free a moment before, plus a readiness server of its own, and waits until it serves.
// When a port was taken meanwhile it retries with new ones. It returns the ports passed to
// streamBody; nginx is killed in t.Cleanup.
func Start(t testing.TB, nports int, streamBody func(ports []int) string) []int {
	t.Helper()
	return StartBlocks(t, nports, func(ports []int) (string, string) { return streamBody(ports), "" })
}

// StartBlocks is Start with an `http {}` body as well (empty: no http block).
func StartBlocks(t testing.TB, nports int, bodies func(ports []int) (stream, http string)) []int {
	t.Helper()
	Require(t)
	dir := t.TempDir()
	for attempt := 1; ; attempt++ {
		ports := FreePorts(t, nports+1)
		ready := ports[nports]
		var conf strings.Builder
		fmt.Fprintf(&conf, "load_module %s;\ndaemon off;\nmaster_process off;\nworker_processes 1;\n", StreamModule)
		if os.Geteuid() == 0 {
			conf.WriteString("user root;\n")
		}
		fmt.Fprintf(&conf, "pid %s;\nerror_log %s info;\nevents { worker_connections 4096; }\nstream {\n",
			filepath.Join(dir, "nginx.pid"), filepath.Join(dir, "error.log"))
		stream, http := bodies(ports[:nports])
		conf.WriteString(stream)
		fmt.Fprintf(&conf, "    server {\n        listen 127.0.0.1:%d;\n        return \"ready\\n\";\n    }\n}\n", ready)
		if http != "" {
			fmt.Fprintf(&conf, "http {\n    access_log off;\n    client_body_temp_path %s;\n    proxy_temp_path %s;\n%s}\n",
				filepath.Join(dir, "body"), filepath.Join(dir, "proxy"), http)
		}
		confPath := filepath.Join(dir, "nginx.conf")
		if err := os.WriteFile(confPath, []byte(conf.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		errLog := filepath.Join(dir, "error.log")
		os.Remove(errLog)
		out, exitErr := peertest.Run(t, "nginx", exec.Command(Binary, "-p", dir, "-c", confPath, "-e", errLog), ready)
		if exitErr == nil {
			return ports[:nports]
		}
		log, _ := os.ReadFile(errLog)
		if attempt < 3 && bytes.Contains(log, []byte("Address already in use")) {
			t.Logf("nginx: a port was taken meanwhile, retrying")
			continue
		}
		t.Fatalf("nginx exited: %v\n%s\n%s\nconfig:\n%s", exitErr, out, log, conf.String())
	}
}

// FreePorts returns n distinct ports that were free on 127.0.0.1 a moment ago.
func FreePorts(t testing.TB, n int) []int { return peertest.FreePorts(t, n) }
