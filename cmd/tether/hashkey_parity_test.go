package main

import (
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tether-proxy/tether/internal/nginxtest"
)

// TestImportNginxRequestKeyParity: nginx http upstreams hashed on one request variable
// ($cookie_sid consistent, $arg_room, $http_x_user_id and $http_x_forwarded_for consistent),
// imported by `tether import-nginx` and served by a real `tether run`, send every request that
// carries the key to the same backend as a real nginx with the same upstreams file, however
// oddly it is spelled. Requests without the key are left out: nginx balances them round robin,
// tether hashes the client address (documented).
func TestImportNginxRequestKeyParity(t *testing.T) {
	nginxtest.Require(t)
	t.Parallel()
	rng := rand.New(rand.NewPCG(31, 7))
	var names []string
	for i := range 6 {
		ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.%d:0", 91+i))
		if err != nil {
			t.Fatal(err)
		}
		serveName(t, ln, ln.Addr().String())
		names = append(names, ln.Addr().String())
	}
	// Each mode's requests carry the key in the usual way and in the odd ways nginx still
	// reads (name case, spaces, "," between cookies, a name that is a prefix of another).
	cookie := func(pairs string) string {
		return "GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: app\r\nCookie: " + pairs + "\r\n"
	}
	arg := func(query string) string {
		return "GET /socket.io/?" + query + " HTTP/1.1\r\nHost: app\r\n"
	}
	header := func(line string) string { return "GET /ws HTTP/1.1\r\nHost: app\r\n" + line + "\r\n" }
	modes := []struct {
		name, directive string
		requests        []func(key string) string // request heads carrying key
	}{
		{"k_cookie", "hash $cookie_sid consistent;", []func(string) string{
			func(k string) string { return cookie("theme=dark; sid=" + k + "; lang=en") },
			func(k string) string { return cookie("SID=" + k) },
			func(k string) string { return cookie("sid = " + k + " ; x=1") },
			func(k string) string { return cookie("x=1,sid=" + k) },
			func(k string) string { return cookie("sidx=1; sid=" + k + ",v") },
		}},
		{"k_arg", "hash $arg_room;", []func(string) string{
			func(k string) string { return arg("EIO=4&room=" + k + "&transport=polling") },
			func(k string) string { return arg("ROOM=" + k) },
			func(k string) string { return arg("room&xroom=1&room=" + k) },
			func(k string) string { return arg("a=room=1&Room=" + k + "=x") },
		}},
		{"k_header", "hash $http_x_user_id consistent;", []func(string) string{
			func(k string) string { return header("X-User-Id: " + k) },
			func(k string) string { return header("x-user-id:" + k) },
			func(k string) string { return header("X-USER-ID: " + k + "\r\nX-User-Id: other") },
		}},
		{"k_xff", "hash $http_x_forwarded_for consistent;", []func(string) string{
			func(k string) string { return header("X-Forwarded-For: " + k) },
			func(k string) string { return header("X-Forwarded-For: " + k + ", 10.0.0.1") },
			func(k string) string {
				return header("X-Forwarded-For: " + k + "\r\nX-Forwarded-For: 10.0.0.2, 10.0.0.3")
			},
		}},
	}
	var ups strings.Builder
	for _, m := range modes {
		fmt.Fprintf(&ups, "upstream %s {\n    %s\n", m.name, m.directive)
		for _, k := range rng.Perm(len(names))[:4+rng.IntN(3)] {
			line := names[k]
			if w := 1 + rng.IntN(4); w > 1 {
				line += " weight=" + strconv.Itoa(w)
			}
			fmt.Fprintf(&ups, "    server %s;\n", line)
		}
		ups.WriteString("}\n")
	}
	dir := t.TempDir()
	writeFile(t, dir, "upstreams.conf", ups.String())
	t.Logf("upstreams.conf:\n%s", ups.String())

	server := func(port int, upstream string) string {
		return fmt.Sprintf("    server {\n        listen 127.0.0.1:%d;\n        location / { proxy_pass http://%s; }\n    }\n", port, upstream)
	}
	ngxPorts := nginxtest.StartBlocks(t, len(modes), func(ports []int) (string, string) {
		var b strings.Builder
		fmt.Fprintf(&b, "    include %s;\n", filepath.Join(dir, "upstreams.conf"))
		for i, m := range modes {
			b.WriteString(server(ports[i], m.name))
		}
		return "", b.String()
	})
	tetherPorts := nginxtest.FreePorts(t, len(modes))
	var ngx strings.Builder
	ngx.WriteString("http {\n    include upstreams.conf;\n")
	for i, m := range modes {
		ngx.WriteString(server(tetherPorts[i], m.name))
	}
	ngx.WriteString("}\n")
	code, imported, notes := runTether(t, "", "import-nginx", writeFile(t, dir, "nginx.conf", ngx.String()))
	if code != 0 {
		t.Fatalf("import-nginx: exit %d\n%s", code, notes)
	}
	for _, m := range modes {
		if strings.Contains(notes, m.name) || strings.Contains(notes, "hash:") {
			t.Fatalf("import-nginx did not carry %s over:\n%s\n%s", m.name, notes, imported)
		}
	}
	p := start(t, "run", "-c", writeFile(t, dir, "tether.toml", imported))
	for _, m := range modes {
		p.waitOutput(t, fmt.Sprintf(`"upstream":%q`, m.name))
	}

	ask := func(port int, head string) string {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		io.WriteString(c, head+"Connection: close\r\n\r\n")
		b, _ := io.ReadAll(c)
		_, body, ok := strings.Cut(string(b), "\r\n\r\n")
		if !ok || !strings.HasPrefix(string(b), "HTTP/1.1 200 ") {
			t.Fatalf("request %q on port %d: %q", head, port, b)
		}
		return body
	}
	const keys = 150
	for i, m := range modes {
		seen := map[string]int{}
		for j := range keys {
			key := fmt.Sprintf("%x", rng.Uint64()>>(rng.IntN(48)))
			if j%5 == 0 {
				key = "u-" + key + ".v2" // dashes and dots, as session ids have
			}
			head := m.requests[j%len(m.requests)](key)
			viaNginx, viaTether := ask(ngxPorts[i], head), ask(tetherPorts[i], head)
			if viaNginx != viaTether {
				t.Fatalf("%s key %q: nginx sent it to %q, tether to %q", m.name, key, viaNginx, viaTether)
			}
			seen[viaTether]++
		}
		if len(seen) < 3 {
			t.Fatalf("%s: %d keys reached only %v", m.name, keys, seen)
		}
		t.Logf("%s: %d keys, nginx == tether for every one; spread %v", m.name, keys, seen)
	}
}
