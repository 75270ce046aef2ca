package main

import (
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/tether-proxy/tether/conf"
	"github.com/tether-proxy/tether/internal/websocket"
	"github.com/tether-proxy/tether/tlsterm"
)

// cmdDemo runs tether for real with nothing to write first: three WebSocket echo backends on
// loopback, a self-signed ECDSA P-256 certificate, and a TLS listener with hash-consistent
// balancing in front of them, configured through the same TOML path as `tether run`.
func cmdDemo(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("tether demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("listen", "127.0.0.1:8443", "address of the demo's TLS listener")
	var lf logFlags
	lf.register(fs)
	lf.format = "text"
	if err := fs.Parse(args); err != nil {
		return 2
	}
	log, err := lf.logger(stderr)
	if err != nil {
		fmt.Fprintln(stderr, "tether demo:", err)
		return 2
	}
	dir, err := os.MkdirTemp("", "tether-demo-")
	if err != nil {
		fmt.Fprintln(stderr, "tether demo:", err)
		return 1
	}
	defer os.RemoveAll(dir)

	var servers []string
	for i := 1; i <= 3; i++ {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			fmt.Fprintln(stderr, "tether demo: backend:", err)
			return 1
		}
		name := fmt.Sprintf("backend-%d", i)
		hs := &http.Server{Handler: websocket.EchoHandler(name, log), ReadHeaderTimeout: 10 * time.Second}
		go hs.Serve(ln)
		defer hs.Close()
		servers = append(servers, fmt.Sprintf("%q", ln.Addr().String()))
	}

	cert, err := tlsterm.SelfSigned("localhost", "127.0.0.1", "::1")
	if err != nil {
		fmt.Fprintln(stderr, "tether demo:", err)
		return 1
	}
	certPath, keyPath, err := tlsterm.WritePEM(dir, cert)
	if err != nil {
		fmt.Fprintln(stderr, "tether demo:", err)
		return 1
	}
	toml := fmt.Sprintf(`# the configuration tether demo runs
drain_timeout = "2s"

[[listeners]]
name = "demo"
listen = %q
upstream = "echo"
preamble = "http"   # WebSocket upgrades and plain HTTP (the demo page) both pass
  [listeners.tls]
  cert = %q
  key = %q

[upstreams.echo]
balance = "hash-consistent"   # nginx: hash $remote_addr consistent;
servers = [%s]
`, *addr, filepath.Base(certPath), filepath.Base(keyPath), strings.Join(servers, ", "))
	cfgPath := filepath.Join(dir, "demo.toml")
	if err := os.WriteFile(cfgPath, []byte(toml), 0o644); err != nil {
		fmt.Fprintln(stderr, "tether demo:", err)
		return 1
	}
	cfg, err := conf.Load(cfgPath)
	if err != nil {
		printProblems(stderr, err)
		return 1
	}
	_, port, _ := net.SplitHostPort(*addr)
	fmt.Fprintf(stdout, `%s
tether demo: https://%s/ and wss://%s/ws -> 3 WebSocket echo backends, sticky by client address.

  Try it:
    open https://localhost:%s/ in a browser (accept the self-signed certificate): the page opens
    a WebSocket through tether and shows the echoes and which backend served it; or
    for i in 1 2 3 4 5 6; do curl -sk --interface 127.0.0.$i https://%s/whoami; done
    (each client address always lands on the same backend).
  Ctrl-C drains and stops.

`, indent(toml), *addr, *addr, port, *addr)
	if err := serve(cfg, log); err != nil {
		log.Error("tether demo stopped", "err", err)
		return 1
	}
	return 0
}

func indent(s string) string {
	return "  " + strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "\n  ")
}
