package main

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tether-proxy/tether/internal/haproxytest"
)

// TestImportHAProxySyntaxError: a haproxy.cfg HAProxy cannot read is reported with FILE:LINE
// and nothing is written on stdout.
func TestImportHAProxySyntaxError(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfg := writeFile(t, dir, "haproxy.cfg", "frontend fe\n    bind :80\n    default_backend \"be\n")
	code, out, errOut := runTether(t, "", "import-haproxy", cfg)
	if code != 1 || out != "" || !strings.Contains(errOut, cfg+":3: unmatched quote") {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, out, errOut)
	}
}

// TestImportHAProxyLookupParity: a haproxy.cfg with `balance source` backends (map-based and
// consistent; weights, explicit and automatic ids, a disabled, a weight-0 and a backup server)
// imported with `tether import-haproxy` makes `tether lookup` name, for each of 2,000 clients
// (IPv4 and IPv6), the server the real HAProxy started on that very file picks; every line not
// carried over is listed on stderr as FILE:LINE: keyword: why.
func TestImportHAProxyLookupParity(t *testing.T) {
	haproxytest.Require(t)
	rng := rand.New(rand.NewPCG(3, 17))
	for _, hashType := range []string{"map-based", "consistent"} {
		t.Run(hashType, func(t *testing.T) {
			names := []string{"web1", "web2", "web3", "web4", "web5", "web6"}
			addrs := map[string]string{}
			for _, n := range names {
				addrs[n] = haproxytest.NameServer(t, n)
			}
			var body string
			port := haproxytest.Start(t, 1, func(p []int) string {
				body = fmt.Sprintf(`defaults
    mode tcp
    option tcplog
    timeout connect 3s
    timeout client 1h
    timeout server 1h

frontend ws_in
    bind 127.0.0.1:%d accept-proxy
    default_backend app

backend app
    balance source
    hash-type %s
    server web1 %s weight 3
    server web2 %s id 2
    server web3 %s weight 2 disabled
    server web4 %s weight 0
    server web5 %s weight 5 id 1
    server web6 %s backup
`, p[0], hashType, addrs["web1"], addrs["web2"], addrs["web3"], addrs["web4"], addrs["web5"], addrs["web6"])
				return body
			})[0]
			dir := t.TempDir()
			file := writeFile(t, dir, "haproxy.cfg", body)
			code, toml, errOut := runTether(t, "", "import-haproxy", file)
			if code != 0 {
				t.Fatalf("import-haproxy: exit %d\n%s", code, errOut)
			}
			for _, l := range strings.Split(strings.TrimSpace(errOut), "\n") {
				if !notePattern.MatchString(l) && !strings.HasPrefix(l, "tether import-haproxy: ") {
					t.Errorf("stderr line not in the FILE:LINE: keyword: why form: %q", l)
				}
			}
			for _, w := range []string{file + ":3: option: not needed", file + ":18: server: weight 0"} {
				if !strings.Contains(errOut, w) {
					t.Errorf("stderr lacks %q:\n%s", w, errOut)
				}
			}
			cfg := filepath.Join(dir, "tether.toml")
			if err := os.WriteFile(cfg, []byte(toml), 0o644); err != nil {
				t.Fatal(err)
			}
			if code, out, errOut := runTether(t, "", "check", "-c", cfg); code != 0 {
				t.Fatalf("check: %s %s\n%s", out, errOut, toml)
			}
			clients := sourceClients(rng, 2000)
			var stdin strings.Builder
			for _, c := range clients {
				stdin.WriteString(c.String() + "\n")
			}
			code, out, errOut := runTether(t, stdin.String(), "lookup", "-c", cfg, "-")
			if code != 0 {
				t.Fatalf("lookup: %d %s", code, errOut)
			}
			byAddr := map[string]string{}
			for n, a := range addrs {
				byAddr[a] = n
			}
			lookup := map[string]string{}
			for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
				f := strings.Fields(l)
				lookup[f[0]] = byAddr[f[1]]
			}
			viaHA := askEach(t, fmt.Sprintf("127.0.0.1:%d", port), clients)
			spread := map[string]int{}
			for i, c := range clients {
				if lookup[c.String()] != viaHA[i] {
					t.Fatalf("client %s: HAProxy chose %q, tether lookup on the imported configuration %q\n%s", c, viaHA[i], lookup[c.String()], toml)
				}
				spread[viaHA[i]]++
			}
			t.Logf("%d clients, HAProxy == tether lookup; spread %v", len(clients), spread)
		})
	}
}
