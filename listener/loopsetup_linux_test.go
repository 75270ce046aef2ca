package listener

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tether-proxy/tether/conf"
)

// The event loop sets connections of plain listeners up without a goroutine each (issue 11):
// these tests count goroutines while thousands of connections are in setup. They do not run in
// parallel with other tests: their goroutine counts and descriptors are the process's.

const loopSetupConfig = `
[[listeners]]
name = "http"
listen = "127.0.0.1:0"
upstream = "app"
preamble = "http"
  [listeners.timeouts]
  preamble = "%s"
[upstreams.app]
servers = ["%s"]
`

// TestSetupOnLoopHoldsNoGoroutine: 5,000 connections whose request head has not arrived are
// in setup on the event loop, and the process's goroutines stay flat; then 2,000 clients
// connect at once and send their heads, and every one is tunnelled to the backend and answered.
func TestSetupOnLoopHoldsNoGoroutine(t *testing.T) {
	b := startBackend(t, "b", "127.0.0.1:0", whoAmI)
	p := startProxy(t, fmt.Sprintf(loopSetupConfig, "60s", b.addr()))
	if !p.srv.engine.CanAccept() {
		t.Skip("the event loops cannot accept here")
	}
	addr := p.addr("http")
	before := runtime.NumGoroutine()
	var waiting []net.Conn
	defer func() {
		for _, c := range waiting {
			c.Close()
		}
	}()
	const inSetup = 5000
	for i := range inSetup {
		waiting = append(waiting, dialFrom(t, fmt.Sprintf("127.0.%d.%d", 30+i/250, 1+i%250), addr))
	}
	waitActive(t, p, inSetup)
	if n := runtime.NumGoroutine() - before; n > 50 {
		t.Errorf("%d more goroutines with %d connections in setup, want none per connection", n, inSetup)
	}
	for _, c := range waiting {
		c.Close()
	}
	waiting = nil
	waitActive(t, p, 0)

	if err := atOnce(2000, func(i int) error { return getFrom(addr, fmt.Sprintf("127.1.%d.%d", i/250, 1+i%250)) }); err != nil {
		t.Fatal(err)
	}
}

// atOnce runs client(0..n-1) on n goroutines released together and returns the first error.
func atOnce(n int, client func(i int) error) error {
	var wg sync.WaitGroup
	errs := make(chan error, n)
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			errs <- client(i)
		})
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// TestSlowClientsBesideGoodOnes: 3,000 clients that connect and dribble nothing of their head
// cost no goroutine each, are refused with 408 by the loop's timer when the preamble timeout
// passes, and every good client connecting meanwhile is served.
func TestSlowClientsBesideGoodOnes(t *testing.T) {
	b := startBackend(t, "b", "127.0.0.1:0", whoAmI)
	p := startProxy(t, fmt.Sprintf(loopSetupConfig, "3s", b.addr()))
	if !p.srv.engine.CanAccept() {
		t.Skip("the event loops cannot accept here")
	}
	addr := p.addr("http")
	before := runtime.NumGoroutine()
	const slow = 3000
	var slowConns []net.Conn
	defer func() {
		for _, c := range slowConns {
			c.Close()
		}
	}()
	for i := range slow {
		c := dialFrom(t, fmt.Sprintf("127.2.%d.%d", i/250, 1+i%250), addr)
		io.WriteString(c, "GET / HT") // then nothing
		slowConns = append(slowConns, c)
	}
	waitActive(t, p, slow)
	if n := runtime.NumGoroutine() - before; n > 50 {
		t.Errorf("%d more goroutines with %d slow clients, want none per connection", n, slow)
	}
	for i := range 40 { // good clients, one after the other while the slow ones wait
		if err := getFrom(addr, fmt.Sprintf("127.3.0.%d", 1+i)); err != nil {
			t.Fatalf("good client %d beside %d slow ones: %v", i, slow, err)
		}
	}
	c := slowConns[0]
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := io.ReadAll(c)
	if !strings.HasPrefix(string(resp), "HTTP/1.1 408 ") {
		t.Fatalf("a slow client got %q (%v), want a 408 once the preamble timeout passed", resp, err)
	}
	waitActive(t, p, 0)
	p.log.waitLog(t, `"reason":"bad request head"`, `"status":408`)
}

// getFrom sends a GET from src through addr and checks the backend's answer.
func getFrom(addr, src string) error {
	d := net.Dialer{Timeout: 10 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		return fmt.Errorf("from %s: %w", src, err)
	}
	return askWho(c, src)
}

// askWho sends GET /who on c and checks that the backend (whoAmI) answered it; it closes c.
func askWho(c net.Conn, src string) error {
	defer c.Close()
	c.SetDeadline(time.Now().Add(20 * time.Second))
	if _, err := io.WriteString(c, "GET /who HTTP/1.1\r\nHost: test\r\n\r\n"); err != nil {
		return fmt.Errorf("from %s: %w", src, err)
	}
	resp, err := io.ReadAll(c)
	if !strings.HasPrefix(string(resp), "HTTP/1.1 200 OK") || !strings.Contains(string(resp), "GET /who") {
		return fmt.Errorf("from %s: answer %q (%v)", src, resp, err)
	}
	return nil
}

// waitActive waits (bounded) until the proxy serves exactly n connections.
func waitActive(t *testing.T, p *proxy, n int64) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); p.srv.Active() != n; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the proxy serves %d connections, want %d", p.srv.Active(), n)
		}
	}
}

// TestReloadPlainToTLSOnLoop: a plain listener accepted by the event loops that a reload turns
// into a TLS listener on the same socket terminates TLS from then on; plain clients before and
// TLS clients after are served.
func TestReloadPlainToTLSOnLoop(t *testing.T) {
	t.Parallel()
	b := startBackend(t, "echo", "127.0.0.1:0", echo)
	plainConf := fmt.Sprintf("[[listeners]]\nname = \"l\"\nlisten = \"127.0.0.1:0\"\nupstream = \"app\"\npreamble = \"none\"\n"+
		"[upstreams.app]\nservers = [%q]\n", b.addr())
	p := startProxy(t, plainConf)
	if !p.srv.engine.CanAccept() {
		t.Skip("the event loops cannot accept here")
	}
	echoPlain := func() error {
		c, err := net.DialTimeout("tcp", p.addr("l"), 5*time.Second)
		if err != nil {
			return err
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(5 * time.Second))
		io.WriteString(c, "ping")
		_, err = io.ReadFull(c, make([]byte, 4))
		return err
	}
	if err := echoPlain(); err != nil {
		t.Fatalf("plain client before the reload: %v", err)
	}
	tlsConf := strings.Replace(plainConf, "preamble = \"none\"\n", "preamble = \"none\"\n  [listeners.tls]\n  cert = \"%CERT%\"\n  key = \"%KEY%\"\n", 1)
	tlsConf = strings.NewReplacer("%CERT%", filepath.Join(p.dir, "cert.pem"), "%KEY%", filepath.Join(p.dir, "key.pem")).Replace(tlsConf)
	path := filepath.Join(p.dir, "tether.toml")
	if err := os.WriteFile(path, []byte(tlsConf), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := conf.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.srv.Reload(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	if err := echoOverTLS(p.addr("l"), "127.0.0.9"); err != nil {
		t.Fatalf("TLS client after the reload: %v", err)
	}
}

// TestTLSSetupOnLoop: TLS listeners are set up on the event loop too. 2,000 connections that
// never send a ClientHello and 1,000 that sent part of one wait on the loop with no goroutine
// and no handshake slot each; 500 clients then connect at once, and each is served over TLS
// (handshake on a worker, the request head read through TLS on the loop). With a short
// handshake timeout, the loop's timer refuses the silent ones, logged and counted.
func TestTLSSetupOnLoop(t *testing.T) {
	b := startBackend(t, "b", "127.0.0.1:0", whoAmI)
	listener := `
[[listeners]]
name = "%s"
listen = "127.0.0.1:0"
upstream = "app"
preamble = "http"
  [listeners.timeouts]
  handshake = "%s"
  [listeners.tls]
  cert = "%%CERT%%"
  key = "%%KEY%%"
`
	p := startProxy(t, fmt.Sprintf(listener, "wss", "60s")+fmt.Sprintf(listener, "short", "300ms")+
		fmt.Sprintf("[upstreams.app]\nservers = [%q]\n", b.addr()))
	if !p.srv.engine.CanAccept() {
		t.Skip("the event loops cannot accept here")
	}
	addr := p.addr("wss")
	hello := clientHello(t)
	before := runtime.NumGoroutine()
	var waiting []net.Conn
	defer func() {
		for _, c := range waiting {
			c.Close()
		}
	}()
	const silent, partial = 2000, 1000
	for i := range silent + partial {
		c := dialFrom(t, fmt.Sprintf("127.0.%d.%d", 60+i/250, 1+i%250), addr)
		if i >= silent {
			c.Write(hello[:len(hello)/2])
		}
		waiting = append(waiting, c)
	}
	waitActive(t, p, silent+partial)
	if n := runtime.NumGoroutine() - before; n > 50 {
		t.Errorf("%d more goroutines with %d TLS connections awaiting their ClientHello, want none per connection", n, silent+partial)
	}
	if m := metricsText(p); !strings.Contains(m, "tether_tls_handshakes_in_progress 0") {
		t.Errorf("connections without a whole ClientHello hold handshake slots:\n%s", grepLines(m, "handshakes_in_progress"))
	}

	if err := atOnce(500, func(i int) error { return getOverTLS(addr, fmt.Sprintf("127.1.%d.%d", i/250, 1+i%250)) }); err != nil {
		t.Fatal(err)
	}
	for _, c := range waiting {
		c.Close()
	}
	waiting = nil
	waitActive(t, p, 0)

	const timedOut = 100
	for i := range timedOut {
		waiting = append(waiting, dialFrom(t, fmt.Sprintf("127.2.%d.%d", i/250, 1+i%250), p.addr("short")))
	}
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		m := metricsText(p)
		if strings.Contains(m, fmt.Sprintf(`tether_connections_refused_total{listener="short",reason="tls handshake"} %d`, timedOut)) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the silent clients were not refused by the handshake timeout:\n%s", grepLines(m, `listener="short"`))
		}
	}
	p.log.waitLog(t, "tls handshake", "await ClientHello")
	waitActive(t, p, 0)
}

// getOverTLS sends one GET over TLS from src and checks that the backend answered it.
func getOverTLS(addr, src string) error {
	d := &net.Dialer{Timeout: 10 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
	c, err := tls.DialWithDialer(d, "tcp", addr, &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		return fmt.Errorf("from %s: %w", src, err)
	}
	return askWho(c, src)
}
