package listener

import (
	"bytes"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// TestLimits: each cap refuses the connection over it at once and counts it; closing a
// connection frees its slot.
func TestLimits(t *testing.T) {
	t.Parallel()
	b := startBackend(t, "echo", "127.0.0.1:0", echo)
	p := startProxy(t, fmt.Sprintf(`
max_conns = 12
[[listeners]]
name = "listener_cap"
listen = "127.0.0.1:0"
upstream = "app"
preamble = "none"
max_conns = 3
[[listeners]]
name = "client_cap"
listen = "127.0.0.1:0"
upstream = "app"
preamble = "none"
max_conns_per_client = 2
[[listeners]]
name = "global"
listen = "127.0.0.1:0"
upstream = "app"
preamble = "none"
[upstreams.app]
servers = ["%s"]
`, b.addr()))

	open := func(listener, from string) (net.Conn, bool) {
		d := net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}
		c, err := d.Dial("tcp", p.addr(listener))
		if err != nil { // a refusal can reset the connection before Dial returns
			return nil, false
		}
		c.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.WriteString(c, "hi"); err != nil {
			c.Close()
			return nil, false
		}
		buf := make([]byte, 2)
		if _, err := io.ReadFull(c, buf); err != nil {
			c.Close()
			return nil, false
		}
		return c, true
	}
	var held []net.Conn
	defer func() {
		for _, c := range held {
			c.Close()
		}
	}()
	expect := func(listener, from string, want bool) net.Conn {
		t.Helper()
		c, ok := open(listener, from)
		if ok != want {
			t.Fatalf("%s from %s: served %v, want %v", listener, from, ok, want)
		}
		if ok {
			held = append(held, c)
		}
		return c
	}
	// listener max_conns = 3
	first := expect("listener_cap", "127.0.0.1", true)
	expect("listener_cap", "127.0.0.2", true)
	expect("listener_cap", "127.0.0.3", true)
	expect("listener_cap", "127.0.0.4", false)
	first.Close()
	time.Sleep(100 * time.Millisecond)
	expect("listener_cap", "127.0.0.4", true)
	// max_conns_per_client = 2
	expect("client_cap", "127.0.1.1", true)
	expect("client_cap", "127.0.1.1", true)
	expect("client_cap", "127.0.1.1", false)
	expect("client_cap", "127.0.1.2", true)
	// process-wide max_conns = 12: 3 + 3 held so far (one listener_cap closed), fill up to 12
	for wait := time.Now().Add(5 * time.Second); p.srv.Active() != 6; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(wait) {
			t.Fatalf("%d connections served, want the 6 held", p.srv.Active())
		}
	}
	for i := range 6 {
		expect("global", fmt.Sprintf("127.0.2.%d", i+1), true)
	}
	expect("global", "127.0.2.100", false)

	var m bytes.Buffer
	p.srv.WriteMetrics(&m)
	for _, want := range []string{
		`tether_connections_refused_total{listener="listener_cap",reason="listener max_conns"} 1`,
		`tether_connections_refused_total{listener="client_cap",reason="max_conns_per_client"} 1`,
		`tether_connections_refused_total{listener="global",reason="max_conns"} 1`,
	} {
		if !strings.Contains(m.String(), want) {
			t.Fatalf("metrics lack %q:\n%s", want, m.String())
		}
	}
}

// TestMaxHandshakes: a client stuck in its TLS handshake (it sent its ClientHello, then went
// quiet) holds a slot; with max_handshakes = 1 the next handshake is refused at once, and served
// again once the slot is free.
func TestMaxHandshakes(t *testing.T) {
	t.Parallel()
	b := startBackend(t, "echo", "127.0.0.1:0", echo)
	p := startProxy(t, fmt.Sprintf(`
max_handshakes = 1
[[listeners]]
name = "tls"
listen = "127.0.0.1:0"
upstream = "app"
preamble = "none"
  [listeners.timeouts]
  handshake = "10s"
  [listeners.tls]
  cert = "%%CERT%%"
  key = "%%KEY%%"
[upstreams.app]
servers = ["%s"]
`, b.addr()))
	handshake := func() error {
		c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", p.addr("tls"), &tls.Config{InsecureSkipVerify: true})
		if err == nil {
			c.Close()
		}
		return err
	}
	if err := handshake(); err != nil {
		t.Fatalf("first handshake: %v", err)
	}
	p.log.waitLog(t, `"msg":"tunnel closed"`)        // the first client is gone; its slot is free
	stuck := dialFrom(t, "127.0.0.1", p.addr("tls")) // says hello, never finishes the handshake
	if _, err := stuck.Write(clientHello(t)); err != nil {
		t.Fatal(err)
	}
	for wait := time.Now().Add(5 * time.Second); !strings.Contains(metricsText(p), "tether_tls_handshakes_in_progress 1"); {
		if time.Now().After(wait) { // the stuck one should have taken the slot by now
			t.Fatalf("the stuck client holds no handshake slot:\n%s\n%s", metricsText(p), p.log.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := handshake(); err == nil {
		t.Fatalf("a second handshake was served while the only slot was taken\n%s", p.log.String())
	}
	p.log.waitLog(t, `"reason":"max_handshakes"`)
	stuck.Close()
	deadline := time.Now().Add(5 * time.Second)
	for handshake() != nil {
		if time.Now().After(deadline) {
			t.Fatal("the slot never came back after the stuck client left")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func metricsText(p *proxy) string {
	var b bytes.Buffer
	p.srv.WriteMetrics(&b)
	return b.String()
}
