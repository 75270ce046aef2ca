package main

import (
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tether-proxy/tether/internal/nginxtest"
)

// serveName serves HTTP on ln, answering every request with name as the body, until the test ends.
func serveName(t *testing.T, ln net.Listener, name string) {
	hs := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		io.WriteString(w, name)
	})}
	go hs.Serve(ln)
	t.Cleanup(func() { hs.Close() })
}

// TestIPHashParityWithNginx: a real nginx `http {}` upstream with ip_hash and tether's
// balance = "ip-hash" over the same HTTP backends and server lines (random weights, a down
// server, a localhost name) send the same clients to the same backends, and `tether lookup`
// agrees. Clients vary in their first three octets, the only ones ip_hash reads for IPv4.
func TestIPHashParityWithNginx(t *testing.T) {
	nginxtest.Require(t)
	t.Parallel()
	rng := rand.New(rand.NewPCG(22, 1))
	var lines []string
	for i := range 5 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		_, port, _ := net.SplitHostPort(ln.Addr().String())
		host := "127.0.0.1"
		if i == 1 {
			host = "localhost"
		}
		name := host + ":" + port
		serveName(t, ln, name)
		line := name
		if w := 1 + rng.IntN(3); w > 1 {
			line += " weight=" + strconv.Itoa(w)
		}
		if i == 3 {
			line += " down"
		}
		lines = append(lines, line)
	}
	ngx := nginxtest.StartBlocks(t, 1, func(ports []int) (string, string) {
		var b strings.Builder
		b.WriteString("    upstream app {\n        ip_hash;\n")
		for _, l := range lines {
			fmt.Fprintf(&b, "        server %s;\n", l)
		}
		fmt.Fprintf(&b, "    }\n    server {\n        listen 127.0.0.1:%d;\n        location / { proxy_pass http://app; }\n    }\n", ports[0])
		return "", b.String()
	})[0]
	quoted := make([]string, len(lines))
	for i, l := range lines {
		quoted[i] = strconv.Quote(l)
	}
	cfg := writeFile(t, t.TempDir(), "tether.toml", fmt.Sprintf(`
[[listeners]]
name = "l"
listen = "127.0.0.1:0"
upstream = "app"
[upstreams.app]
balance = "ip-hash"
servers = [%s]
`, strings.Join(quoted, ", ")))
	p := start(t, "run", "-c", cfg)
	_, tetherPort, _ := net.SplitHostPort(p.loggedAddr(t, "listening", "l"))
	port, _ := strconv.Atoi(tetherPort)

	get := func(src netip.Addr, port int) string {
		tr := &http.Transport{DialContext: (&net.Dialer{LocalAddr: &net.TCPAddr{IP: src.AsSlice()}}).DialContext}
		defer tr.CloseIdleConnections()
		resp, err := (&http.Client{Transport: tr, Timeout: 10 * time.Second}).Get(fmt.Sprintf("http://127.0.0.1:%d/", port))
		if err != nil {
			t.Fatalf("GET from %s: %v", src, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	var clients []netip.Addr
	var stdin strings.Builder
	for range 300 {
		src := netip.AddrFrom4([4]byte{127, byte(1 + rng.IntN(254)), byte(rng.IntN(256)), byte(1 + rng.IntN(254))})
		clients = append(clients, src)
		stdin.WriteString(src.String() + "\n")
	}
	code, out, errOut := runTether(t, stdin.String(), "lookup", "-c", cfg, "-")
	if code != 0 {
		t.Fatalf("lookup: %d %s", code, errOut)
	}
	answers := map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		f := strings.Fields(l)
		answers[f[0]] = f[2]
	}
	seen := map[string]int{}
	for _, src := range clients {
		viaNginx, viaTether := get(src, ngx), get(src, port)
		if viaNginx != viaTether || answers[src.String()] != viaTether {
			t.Fatalf("client %s: nginx ip_hash chose %q, tether %q, tether lookup %q\nservers %v",
				src, viaNginx, viaTether, answers[src.String()], lines)
		}
		seen[viaTether]++
	}
	if len(seen) < 3 {
		t.Fatalf("clients reached only %v", seen)
	}
	t.Logf("ip_hash: %d clients, nginx == tether == lookup; spread %v; servers %v", len(clients), seen, lines)
}
