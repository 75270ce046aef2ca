package listener

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/tether-proxy/tether/hashing"
)

// TestResponseTimeout: a backend that takes a request head and never answers costs its client
// a 504 after timeouts.response, and counts a failure, so with max_fails = 1 the client's retry
// goes to the next backend of the ring; a backend that answers is not disturbed (the byte the
// wait peeked at still reaches the client).
func TestResponseTimeout(t *testing.T) {
	t.Parallel()
	hung := startBackend(t, "hung", "127.0.0.1:0", func(_ string, c net.Conn) {
		c.SetDeadline(time.Now().Add(10 * time.Second))
		io.Copy(io.Discard, c) // reads everything, answers nothing
	})
	good := startBackend(t, "good", "127.0.0.1:0", whoAmI)
	p := startProxy(t, fmt.Sprintf(`
[[listeners]]
name = "l"
listen = "127.0.0.1:0"
upstream = "app"
timeouts.response = "300ms"
[upstreams.app]
servers = ["%s max_fails=1 fail_timeout=1m", "%s"]
`, hung.addr(), good.addr()))

	clientOf := func(backend string) string {
		for i := range 200 {
			src := netip.AddrFrom4([4]byte{127, 0, 3, byte(1 + i)})
			if p.srv.Pool("app").Lookup(hashing.AppendRemoteAddr(nil, src, false)).String() == backend {
				return src.String()
			}
		}
		t.Fatalf("no client hashes to %s", backend)
		return ""
	}
	ask := func(src string) (*http.Response, string) {
		t.Helper()
		c := dialFrom(t, src, p.addr("l"))
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		io.WriteString(c, "GET /socket.io/?EIO=4 HTTP/1.1\r\nHost: app\r\n\r\n")
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatalf("response from %s: %v", src, err)
		}
		body, _ := io.ReadAll(resp.Body)
		return resp, string(body)
	}

	// A client of the good backend: answered as usual, status line intact.
	if resp, body := ask(clientOf(good.addr())); resp.StatusCode != 200 || !strings.HasPrefix(body, "good\nGET /socket.io/?EIO=4 HTTP/1.1\r\n") {
		t.Fatalf("client of the answering backend: %d %q", resp.StatusCode, body)
	}

	// A client of the hung backend: 504, logged, counted, and the backend is marked failed...
	victim := clientOf(hung.addr())
	if resp, _ := ask(victim); resp.StatusCode != 504 || !resp.Close {
		t.Fatalf("client of the hung backend: status %d, close %t; want 504, close", resp.StatusCode, resp.Close)
	}
	p.log.waitLog(t, `"reason":"response timeout"`)
	p.log.waitLog(t, `"disabled":true`)
	var metrics strings.Builder
	p.srv.WriteMetrics(&metrics)
	if want := `tether_connections_refused_total{listener="l",reason="response timeout"} 1`; !strings.Contains(metrics.String(), want) {
		t.Errorf("metrics lack %s", want)
	}

	// ... so the same client's retry reaches the next backend of the ring.
	if resp, body := ask(victim); resp.StatusCode != 200 || !strings.HasPrefix(body, "good\n") {
		t.Fatalf("retry after the timeout: %d %q, want the good backend", resp.StatusCode, body)
	}
}
