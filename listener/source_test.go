package listener

import (
	"fmt"
	"net"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/tether-proxy/tether/internal/netnstest"
)

// TestNoLocalPort pins issue 12 item 1 end to end, in a network namespace whose ephemeral range
// is 4 ports: with source = ["127.0.0.2"] the client's backend takes tunnels until no local port
// is left towards it; then the next client is refused with reason "no local port" (counted,
// logged; an HTTP client gets 503), the backend counts no failure, and the client is not moved
// to the other backend.
func TestNoLocalPort(t *testing.T) {
	if !netnstest.Run(t) {
		return
	}
	var hits [2]atomic.Int64
	counting := func(i int) func(string, net.Conn) {
		return func(name string, c net.Conn) { hits[i].Add(1); echo(name, c) }
	}
	b0 := startBackend(t, "b0", "127.0.0.1:0", counting(0))
	b1 := startBackend(t, "b1", "127.0.0.1:0", counting(1))
	p := startProxy(t, fmt.Sprintf(`
[[listeners]]
name = "raw"
listen = "127.0.0.1:0"
upstream = "app"
preamble = "none"
[[listeners]]
name = "raw2"
listen = "127.0.0.1:0"
upstream = "app"
preamble = "none"
[[listeners]]
name = "http"
listen = "127.0.0.1:0"
upstream = "app"
preamble = "http"
[upstreams.app]
servers = ["%s", "%s"]
source = ["127.0.0.2"]
`, b0.addr(), b1.addr()))
	netnstest.SetPortRange(t, 40000, 40003) // after every listening port is bound

	// Clients take ports from the same range: they alternate between two listeners so that
	// they run out later than tether's one (source, backend) pair.
	held := 0
	for i := range 10 {
		c, ok := echoOnce(p.addr([]string{"raw", "raw2"}[i%2]))
		if !ok {
			break
		}
		defer c.Close()
		held++
	}
	t.Logf("%d tunnels before the first refusal", held)
	if held == 0 || held == 10 {
		t.Fatalf("%d tunnels before the first refusal, want a few (2 ports per source and backend)", held)
	}
	hc, err := net.Dial("tcp", p.addr("http"))
	if err != nil {
		t.Fatal(err)
	}
	defer hc.Close()
	if got := get(t, hc, "/"); !strings.HasPrefix(got, "HTTP/1.1 503 ") {
		t.Errorf("HTTP client with no local port left: %q, want a 503", got)
	}
	m := metricsText(p)
	refused := regexp.MustCompile(`(?m)^tether_connections_refused_total\{listener="(raw2?|http)",reason="no local port"\} 1$`)
	if n := len(refused.FindAllString(m, -1)); n != 2 {
		t.Errorf("want one refusal for \"no local port\" on a raw listener and one on the http listener:\n%s", m)
	}
	if fails := regexp.MustCompile(`(?m)^tether_backend_fails\{.*\} [1-9]`).FindString(m); fails != "" {
		t.Errorf("a backend was blamed for tether's port exhaustion: %s", fails)
	}
	if min(hits[0].Load(), hits[1].Load()) != 0 {
		t.Errorf("connections reached both backends (%d, %d): the client was moved", hits[0].Load(), hits[1].Load())
	}
	p.log.waitLog(t, `"reason":"no local port"`)
}
