package haproxyconf

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tether-proxy/tether/conf"
)

// TestTranslate imports configurations and checks the TOML (which tether must load) and the
// notes: every line not carried over is listed as FILE:LINE: keyword: why.
func TestTranslate(t *testing.T) {
	tests := []struct {
		file  string
		toml  []string
		notes []string
	}{
		{
			file: "websocket-source.cfg",
			toml: []string{`max_conns = 20000`, `listen = "0.0.0.0:8080"`, `preamble = "none"`, `idle = "1h"`, `connect = "5s"`,
				`balance = "source-consistent"`, `balance_factor = 150`, `"10.0.0.11:9000 weight=2 id=1 max_fails=0"`,
				`"10.0.0.12:9000 id=7 max_fails=0"`, `"10.0.0.13:9000 id=3 max_fails=0 down"`, `"10.0.0.14:9000 id=4 max_fails=0 backup"`,
				`proxy_protocol_in = { trusted = ["0.0.0.0/0", "::/0"] }`, `interval = "3s"`, `curves = ["X25519", "P-256"]`},
			notes: []string{"x:2: log: not needed", "x:17: bind: accept-proxy carried over",
				"x:30: server: weight 0: HAProxy never chooses it", "x:32: listen: listen legacy not carried over: server at x:37: address unix@/run/a.sock is not a TCP address"},
		},
		{
			file: "leastconn-http.cfg",
			toml: []string{`listen = "0.0.0.0:80"`, `preamble = "http"`, `balance = "least-conn"`, `"10.1.0.1:3000 max_fails=0"`,
				`type = "http"`, `path = "/health"`, `idle = "50s"`},
			notes: []string{"leastconn-http.cfg:4: stats: not carried over", "leastconn-http.cfg:7: mode: mode http: carried over as a TCP listener",
				"leastconn-http.cfg:9: timeout: timeout client 50s carried over as idle = \"50s\": a WebSocket quiet for 50s is cut",
				"leastconn-http.cfg:17: use_backend: ACL conditions are not carried over", "leastconn-http.cfg:25: server: carried over without slowstart", "leastconn-http.cfg:25: server: no check here"},
		},
		{
			file:  "dualstack.cfg",
			toml:  []string{"listen = \"[::]:8000\"\nipv6only = false", "listen = \"[::]:9000\"\nupstream", `balance = "source"`, `"10.0.0.1:80 id=1 max_fails=0"`},
			notes: []string{"dualstack.cfg:7: bind: address 127.0.0.1:9000 overlaps 0.0.0.0:9000 of the bind at dualstack.cfg:5"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join("testdata", tc.file))
			if err != nil {
				t.Fatal(err)
			}
			name := tc.file
			if strings.HasPrefix(tc.file, "websocket-source") {
				name = "x"
			}
			c, err := Parse(name, data)
			if err != nil {
				t.Fatal(err)
			}
			res, err := Translate(c, "/etc/haproxy")
			var notes []string
			for _, n := range res.Notes {
				notes = append(notes, n.String())
			}
			all := strings.Join(notes, "\n")
			if err != nil {
				t.Fatalf("%v\n%s", err, all)
			}
			for _, w := range tc.toml {
				if !strings.Contains(string(res.TOML), w) {
					t.Errorf("TOML lacks %s:\n%s", w, res.TOML)
				}
			}
			for _, w := range tc.notes {
				if !strings.Contains(all, w) {
					t.Errorf("notes lack %q:\n%s", w, all)
				}
			}
			if _, err := conf.Parse("t.toml", res.TOML); err != nil && !strings.Contains(err.Error(), "cannot read") {
				t.Errorf("tether does not load it: %v\n%s", err, res.TOML)
			}
		})
	}
}
