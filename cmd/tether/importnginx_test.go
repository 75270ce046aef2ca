package main

import (
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/tether-proxy/tether/internal/nginxtest"
	"github.com/tether-proxy/tether/tlsterm"
)

// notePattern is the form of every note tether import-nginx prints: FILE:LINE: directive: why.
var notePattern = regexp.MustCompile(`^[^:]+:[0-9]+: [^ :]+: .+$`)

// writeCertAt writes a self-signed certificate and key at the paths (relative to dir).
func writeCertAt(t *testing.T, dir, certPath, keyPath string) {
	t.Helper()
	cert, err := tlsterm.SelfSigned("localhost")
	if err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	c, k, err := tlsterm.WritePEM(tmp, cert)
	if err != nil {
		t.Fatal(err)
	}
	for from, to := range map[string]string{c: certPath, k: keyPath} {
		to = filepath.Join(dir, to)
		if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(from, to); err != nil {
			t.Fatal(err)
		}
	}
}

// TestImportNginxGuides imports the nginx configurations of the usual WebSocket guides (the
// fixtures of package nginxconf) like a user would, and checks the result with tether check.
func TestImportNginxGuides(t *testing.T) {
	t.Parallel()
	tests := []struct {
		file  string
		certs [2]string
		notes []string // fragments of stderr
		toml  []string // fragments of stdout
	}{
		{
			file: "websocket-map-iphash.conf",
			notes: []string{
				"websocket-map-iphash.conf:19: map: not needed: tether is L4",
				"websocket-map-iphash.conf:40: proxy_set_header: not needed: tether is L4 and passes the client's Upgrade",
				"websocket-map-iphash.conf:46: add_header: not carried over: tether passes the backend's response headers through unchanged",
			},
			toml: []string{`listen = "0.0.0.0:80"`, `listen = "[::]:80"`, `preamble = "http"`, `idle = "1h"`,
				"[upstreams.websocket]", `balance = "ip-hash"`, `"10.0.0.12:8010 weight=2"`, `"10.0.0.13:8010 down"`},
		},
		{
			file:  "stream-hash-ssl.conf",
			certs: [2]string{"certs/site.pem", "certs/site.key"},
			notes: []string{"stream-hash-ssl.conf:25: ssl_protocols: not carried over"},
			toml: []string{`listen = "[::]:8443"`, "ipv6only = false", `proxy_protocol = "v1"`, "max_conns_per_client = 50",
				`"localhost:3002 weight=2 max_fails=3 fail_timeout=30s"`, `drain_timeout = "30s"`},
		},
		{
			file:  "socketio-sticky.conf",
			certs: [2]string{"certs/chat/fullchain.pem", "certs/chat/privkey.pem"},
			notes: []string{"chat:2: sticky: not supported yet", "chat:9: server: http server without proxy_pass",
				"chat:21: location: location without proxy_pass"},
			toml: []string{`listen = "0.0.0.0:443"`, `upstream = "socketio_nodes"`, `idle = "24h"`},
		},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			if err := os.CopyFS(dir, os.DirFS("../../nginxconf/testdata/guides")); err != nil {
				t.Fatal(err)
			}
			if tc.certs[0] != "" {
				writeCertAt(t, dir, tc.certs[0], tc.certs[1])
			}
			code, out, errOut := runTether(t, "", "import-nginx", filepath.Join(dir, tc.file))
			if code != 0 {
				t.Fatalf("import-nginx: exit %d\n%s", code, errOut)
			}
			for _, l := range strings.Split(strings.TrimSpace(errOut), "\n") {
				if !notePattern.MatchString(l) && !strings.HasPrefix(l, "tether import-nginx: ") {
					t.Errorf("stderr line is not FILE:LINE: directive: why: %q", l)
				}
				if strings.Contains(l, "warning") {
					t.Errorf("the import does not load: %s", l)
				}
			}
			for _, w := range tc.notes {
				if !strings.Contains(errOut, w) {
					t.Errorf("stderr lacks %q:\n%s", w, errOut)
				}
			}
			for _, w := range tc.toml {
				if !strings.Contains(out, w) {
					t.Errorf("TOML lacks %q:\n%s", w, out)
				}
			}
			cfg := writeFile(t, dir, "tether.toml", out)
			if code, stdout, stderr := runTether(t, "", "check", "-c", cfg); code != 0 {
				t.Fatalf("tether check of the import: exit %d\n%s%s\n%s", code, stdout, stderr, out)
			}
		})
	}
}

func TestImportNginxErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	tests := []struct {
		name     string
		args     []string
		wantCode int
		want     string
	}{
		{"no file", []string{"import-nginx"}, 2, "usage: tether import-nginx"},
		{"missing file", []string{"import-nginx", filepath.Join(dir, "absent.conf")}, 1, "no such file"},
		{"syntax error", []string{"import-nginx", writeFile(t, dir, "bad.conf", "stream {\n  server {\n")}, 1, "bad.conf:3: unexpected end of file"},
		{"nothing to import", []string{"import-nginx", writeFile(t, dir, "static.conf", "events {}\nhttp {\n  server { listen 80; root /srv; }\n}\n")}, 1, "nothing to import"},
	}
	for _, tc := range tests {
		code, _, errOut := runTether(t, "", tc.args...)
		if code != tc.wantCode || !strings.Contains(errOut, tc.want) {
			t.Errorf("%s: exit %d, stderr %q; want exit %d and %q", tc.name, code, errOut, tc.wantCode, tc.want)
		}
	}
}

// TestImportNginxParity generates upstreams (random weights, down servers, localhost and
// 127.0.0.x names, both hash modes), runs a real nginx on them and `tether run` on what
// `tether import-nginx` makes of the same nginx configuration, and sends the same 2,000 client
// addresses through both: every client must reach the same backend.
func TestImportNginxParity(t *testing.T) {
	nginxtest.Require(t)
	t.Parallel()
	const seed = 6
	rng := rand.New(rand.NewPCG(seed, seed))
	t.Logf("random upstreams from seed %d", seed)

	// Eight token backends on distinct loopback addresses.
	var names []string
	for i := range 8 {
		bind := fmt.Sprintf("127.0.0.%d:0", 81+i)
		host := fmt.Sprintf("127.0.0.%d", 81+i)
		if i%3 == 0 {
			bind, host = "127.0.0.1:0", "localhost"
		}
		ln, err := net.Listen("tcp", bind)
		if err != nil {
			t.Fatal(err)
		}
		_, port, _ := net.SplitHostPort(ln.Addr().String())
		name := host + ":" + port
		tokenBackend(t, ln, name)
		names = append(names, name)
	}
	modes := []struct{ name, directive string }{
		{"u_consistent", "hash $remote_addr consistent;"},
		{"u_plain", "hash $remote_addr;"},
	}
	var ups strings.Builder
	for _, m := range modes {
		fmt.Fprintf(&ups, "upstream %s {\n    %s\n", m.name, m.directive)
		perm := rng.Perm(len(names))[:5+rng.IntN(4)]
		for j, k := range perm {
			line := names[k]
			if w := 1 + rng.IntN(5); w > 1 {
				line += fmt.Sprintf(" weight=%d", w)
			}
			if j == 1 || j > 1 && rng.IntN(6) == 0 {
				line += " down"
			}
			if rng.IntN(3) == 0 {
				line += fmt.Sprintf(" max_fails=%d fail_timeout=%ds max_conns=1000", 1+rng.IntN(3), 5+rng.IntN(20))
			}
			fmt.Fprintf(&ups, "    server %s;\n", line)
		}
		ups.WriteString("}\n")
	}
	dir := t.TempDir()
	writeFile(t, dir, "upstreams.conf", ups.String())
	t.Logf("upstreams.conf:\n%s", ups.String())

	// nginx: the upstreams file included as is, a server per upstream.
	ngxPorts := nginxtest.Start(t, len(modes), func(ports []int) string {
		var b strings.Builder
		fmt.Fprintf(&b, "    include %s;\n", filepath.Join(dir, "upstreams.conf"))
		for i, m := range modes {
			fmt.Fprintf(&b, "    server {\n        listen 127.0.0.1:%d;\n        proxy_pass %s;\n    }\n", ports[i], m.name)
		}
		return b.String()
	})
	// tether: the same upstreams file, included relatively by the nginx.conf that is imported.
	tetherPorts := nginxtest.FreePorts(t, len(modes))
	var ngx strings.Builder
	ngx.WriteString("stream {\n    include upstreams.conf;\n")
	for i, m := range modes {
		fmt.Fprintf(&ngx, "    server {\n        listen 127.0.0.1:%d;\n        proxy_pass %s;\n        proxy_timeout 1h;\n    }\n", tetherPorts[i], m.name)
	}
	ngx.WriteString("}\n")
	code, imported, notes := runTether(t, "", "import-nginx", writeFile(t, dir, "nginx.conf", ngx.String()))
	if code != 0 {
		t.Fatalf("import-nginx: exit %d\n%s", code, notes)
	}
	for _, l := range strings.Split(strings.TrimSpace(notes), "\n") {
		if !strings.HasPrefix(l, "tether import-nginx: 2 listeners, 2 upstreams; 0 directives") {
			t.Fatalf("import-nginx left something out of a plain stream configuration: %s", l)
		}
	}
	p := start(t, "run", "-c", writeFile(t, dir, "tether.toml", imported))
	for _, m := range modes {
		p.waitOutput(t, fmt.Sprintf(`"upstream":%q`, m.name))
	}

	const clients, shards = 2000, 4
	for i, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			t.Parallel()
			for s := range shards {
				t.Run(fmt.Sprint(s), func(t *testing.T) {
					t.Parallel()
					seen := map[string]int{}
					for j := s; j < clients; j += shards {
						src := netip.AddrFrom4([4]byte{127, byte(1 + j%199), byte(j / 199 * 23 % 256), byte(1 + j*7%253)})
						viaNginx := ask(t, src, fmt.Sprintf("127.0.0.1:%d", ngxPorts[i]))
						viaTether := ask(t, src, fmt.Sprintf("127.0.0.1:%d", tetherPorts[i]))
						if viaNginx == "" || viaNginx != viaTether {
							t.Fatalf("client %s: nginx sent it to %q, tether to %q", src, viaNginx, viaTether)
						}
						seen[viaTether]++
					}
					if len(seen) < 2 {
						t.Fatalf("all clients reached %v", seen)
					}
				})
			}
		})
	}
}
