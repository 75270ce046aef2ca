package listener

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"github.com/tether-proxy/tether/conf"
	"github.com/tether-proxy/tether/hashing"
	"github.com/tether-proxy/tether/preamble"
)

// TestHashKey: with hash_key the key comes from the request (here a cookie, a header hop and a
// query parameter); clients without it fall back to their address.
func TestHashKey(t *testing.T) {
	t.Parallel()
	var servers []string
	byName := map[string]string{}
	for i := range 4 {
		b := startBackend(t, fmt.Sprintf("b%d", i), "127.0.0.1:0", whoAmI)
		servers = append(servers, fmt.Sprintf("%q", b.addr()))
		byName[b.name] = b.addr()
	}
	p := startProxy(t, fmt.Sprintf(`
[[listeners]]
name = "cookie"
listen = "127.0.0.1:0"
upstream = "app"
hash_key = "cookie:sid"
[[listeners]]
name = "xff"
listen = "127.0.0.1:0"
upstream = "app"
hash_key = "header:X-Forwarded-For:first"
[[listeners]]
name = "query"
listen = "127.0.0.1:0"
upstream = "app"
hash_key = "query:room"
[upstreams.app]
servers = [%s]
`, strings.Join(servers, ", ")))
	pool := p.srv.Pool("app")
	reach := func(listener, src, extra, target string) string {
		c := dialFrom(t, src, p.addr(listener))
		defer c.Close()
		fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: x\r\n%s\r\n", target, extra)
		buf := make([]byte, 4096)
		n, _ := c.Read(buf)
		_, body, _ := strings.Cut(string(buf[:n]), "\r\n\r\n")
		name, _, _ := strings.Cut(body, "\n")
		return byName[name]
	}
	tests := []struct {
		listener, extra, target, key string
	}{
		{"cookie", "Cookie: theme=dark; sid=abc123\r\n", "/", "abc123"},
		{"cookie", "Cookie: sid=zz9\r\n", "/", "zz9"},
		{"cookie", "", "/", ""}, // no cookie: the client address
		{"xff", "X-Forwarded-For: 198.51.100.7, 10.0.0.1\r\n", "/", "198.51.100.7"},
		{"query", "", "/socket.io/?EIO=4&room=lobby&transport=polling", "lobby"},
		{"query", "", "/socket.io/?EIO=4", ""},
	}
	for _, tc := range tests {
		seen := map[string]bool{}
		for i := range 8 { // many client addresses, one key
			src := netip.AddrFrom4([4]byte{127, 30, byte(i), 1})
			want := tc.key
			if want == "" {
				want = string(hashing.AppendRemoteAddr(nil, src, false))
			}
			got := reach(tc.listener, src.String(), tc.extra, tc.target)
			if exp := pool.Lookup([]byte(want)).String(); got != exp {
				t.Fatalf("%s %q from %s: reached %s, want %s (key %q)", tc.listener, tc.extra+tc.target, src, got, exp, want)
			}
			seen[got] = true
		}
		if tc.key != "" && len(seen) != 1 {
			t.Fatalf("%s key %q: clients spread over %v, want one backend", tc.listener, tc.key, seen)
		}
	}
}

// TestForwardedHeaders: the backend gets X-Forwarded-For / X-Real-IP / X-Forwarded-Proto for the
// real client; values a client sends are replaced, a trusted peer's chain is extended.
func TestForwardedHeaders(t *testing.T) {
	t.Parallel()
	b := startBackend(t, "b", "127.0.0.1:0", whoAmI)
	p := startProxy(t, fmt.Sprintf(`
[[listeners]]
name = "l"
listen = "127.0.0.1:0"
upstream = "app"
forwarded_headers = { trusted = ["127.0.5.0/24"] }
[upstreams.app]
servers = ["%s"]
`, b.addr()))
	forged := "X-Forwarded-For: 6.6.6.6\r\nX-Real-IP: 6.6.6.6\r\nx-forwarded-proto: https\r\n"
	tests := []struct {
		name, from, want string
	}{
		{"untrusted client forging", "127.0.9.9",
			"GET /chat HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nX-Forwarded-For: 127.0.9.9\r\nX-Real-IP: 127.0.9.9\r\nX-Forwarded-Proto: http\r\n\r\n"},
		{"trusted proxy in front", "127.0.5.5",
			"GET /chat HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nX-Forwarded-For: 6.6.6.6, 127.0.5.5\r\nX-Real-IP: 127.0.5.5\r\nX-Forwarded-Proto: https\r\n\r\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := dialFrom(t, tc.from, p.addr("l"))
			defer c.Close()
			fmt.Fprintf(c, "GET /chat HTTP/1.1\r\nHost: x\r\n%sUpgrade: websocket\r\n\r\n", forged)
			resp := get(t, c, "") // the request was sent already; read the answer
			_, body, _ := strings.Cut(resp, "\r\n\r\n")
			_, saw, _ := strings.Cut(body, "\n")
			if !strings.HasPrefix(saw, tc.want) {
				t.Fatalf("backend saw\n%q\nwant\n%q", saw, tc.want)
			}
		})
	}
}

// TestHeaderKey: a header key reads what nginx 1.22's $http_NAME has (the first field line, or
// for X-Forwarded-For and Cookie all lines joined), and a hop reads the first element of the
// first line or the last element of the last line.
func TestHeaderKey(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		lines  []string
		header string
		hop    conf.Hop
		want   string
	}{
		{"one line", []string{"X-User-Id: u1"}, "x-user-id", conf.HopAll, "u1"},
		{"first line of another header", []string{"X-User-Id: u1", "X-User-Id: u2"}, "X-User-Id", conf.HopAll, "u1"},
		{"xff lines joined", []string{"X-Forwarded-For: 198.51.100.7", "x-forwarded-for: 10.0.0.1, 10.0.0.2"}, "X-Forwarded-For", conf.HopAll, "198.51.100.7, 10.0.0.1, 10.0.0.2"},
		{"cookie lines joined", []string{"Cookie: a=1", "Cookie: b=2"}, "Cookie", conf.HopAll, "a=1; b=2"},
		{"first hop", []string{"X-Forwarded-For: 198.51.100.7 , 10.0.0.9", "X-Forwarded-For: 10.0.0.1"}, "X-Forwarded-For", conf.HopFirst, "198.51.100.7"},
		{"last hop of the last line", []string{"X-Forwarded-For: 198.51.100.7, 10.0.0.9", "X-Forwarded-For: 10.0.0.1,  10.0.0.2"}, "X-Forwarded-For", conf.HopLast, "10.0.0.2"},
		{"last hop of one line", []string{"X-Forwarded-For: 198.51.100.7, 10.0.0.9"}, "X-Forwarded-For", conf.HopLast, "10.0.0.9"},
		{"absent", []string{"X-Other: 1"}, "X-Forwarded-For", conf.HopAll, ""},
		{"absent with hop", nil, "X-Forwarded-For", conf.HopLast, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var h preamble.Head
			head := "GET / HTTP/1.1\r\nHost: a\r\n" + strings.Join(tc.lines, "\r\n")
			if len(tc.lines) > 0 {
				head += "\r\n"
			}
			if err := preamble.Parse([]byte(head+"\r\n"), &h); err != nil {
				t.Fatal(err)
			}
			if got := string(headerKey(&h, tc.header, tc.hop)); got != tc.want {
				t.Errorf("headerKey(%q, %q) = %q, want %q", tc.header, tc.hop, got, tc.want)
			}
		})
	}
}
