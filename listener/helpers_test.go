package listener

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tether-proxy/tether/conf"
	"github.com/tether-proxy/tether/tlsterm"
)

// logBuffer collects a Server's log lines for assertions.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// waitLog waits (bounded) until the log contains every substring.
func (l *logBuffer) waitLog(t *testing.T, subs ...string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		s := l.String()
		missing := ""
		for _, sub := range subs {
			if !strings.Contains(s, sub) {
				missing = sub
				break
			}
		}
		if missing == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("log never contained %q; log:\n%s", missing, s)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// proxy is a running Server for one test.
type proxy struct {
	srv  *Server
	cfg  *conf.Config
	log  *logBuffer
	dir  string
	cert *tls.Certificate
}

// addr returns the bound address of the named listener.
func (p *proxy) addr(name string) string { return p.srv.Addr(name).String() }

// startProxy writes toml (with %CERT% and %KEY% replaced by a fresh self-signed pair) to a
// temporary config file, loads it through package conf and serves it until the test ends.
func startProxy(t *testing.T, toml string) *proxy {
	t.Helper()
	dir := t.TempDir()
	cert, err := tlsterm.SelfSigned("localhost", "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	certPath, keyPath, err := tlsterm.WritePEM(dir, cert)
	if err != nil {
		t.Fatal(err)
	}
	toml = strings.NewReplacer("%CERT%", certPath, "%KEY%", keyPath).Replace(toml)
	path := filepath.Join(dir, "tether.toml")
	if err := os.WriteFile(path, []byte(toml), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := conf.Load(path)
	if err != nil {
		t.Fatalf("config:\n%s\n%v", toml, err)
	}
	lb := &logBuffer{}
	log := slog.New(slog.NewJSONHandler(lb, &slog.HandlerOptions{Level: slog.LevelDebug}))
	srv, err := New(context.Background(), cfg, Options{Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Listen(context.Background()); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { srv.Serve(); close(done) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		<-done
	})
	return &proxy{srv: srv, cfg: cfg, log: lb, dir: dir, cert: &cert}
}

// refusingPort returns a loopback port where connects are refused for the whole test: a TCP
// socket is bound to it but never listens, so the kernel answers every SYN with a reset and
// no other socket can take the port meanwhile (unlike closing a listener, which frees it).
func refusingPort(t *testing.T) int {
	t.Helper()
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	unix.CloseOnExec(fd)
	t.Cleanup(func() { unix.Close(fd) })
	if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	sa, err := unix.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	return sa.(*unix.SockaddrInet4).Port
}

// backend is a loopback TCP server run by a test; handle serves each connection.
type backend struct {
	name string
	ln   net.Listener
	wg   sync.WaitGroup
}

func startBackend(t *testing.T, name, addr string, handle func(name string, c net.Conn)) *backend {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	b := &backend{name: name, ln: ln}
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			b.wg.Add(1)
			go func() {
				defer b.wg.Done()
				defer c.Close()
				handle(name, c)
			}()
		}
	}()
	t.Cleanup(func() { ln.Close(); b.wg.Wait() })
	return b
}

func (b *backend) addr() string { return b.ln.Addr().String() }

// whoAmI reads the preface (optional PROXY header line or v2 block, then an HTTP head when
// there is one) and answers "<name>\n<preface bytes>" in an HTTP response, so tests see which
// backend they reached and exactly what tether sent before the client's bytes.
func whoAmI(name string, c net.Conn) {
	c.SetDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(c)
	var got bytes.Buffer
	for {
		line, err := br.ReadBytes('\n')
		got.Write(line)
		if err != nil || bytes.Equal(line, []byte("\r\n")) {
			break
		}
	}
	body := name + "\n" + got.String()
	fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s", len(body), body)
}

// echo copies everything back, half-closing when the client does.
func echo(_ string, c net.Conn) {
	io.Copy(c, c)
	c.(*net.TCPConn).CloseWrite()
}

// dialFrom connects to addr from the given loopback source address.
func dialFrom(t *testing.T, src, addr string) net.Conn {
	t.Helper()
	d := net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("dial %s from %s: %v", addr, src, err)
	}
	return c
}

// get sends a minimal HTTP/1.1 GET over c and returns the whole response.
func get(t *testing.T, c net.Conn, path string) string {
	t.Helper()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: test\r\n\r\n", path)
	b, err := io.ReadAll(c)
	if err != nil {
		t.Fatalf("read response: %v", err)
	}
	return string(b)
}
