package main

import (
	"bufio"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/tether-proxy/tether/internal/websocket"
)

// The backends speak a one-byte protocol: the first byte of every connection says what the
// backend does with the rest of it.
const (
	modeEcho    = 'E' // echo every byte back
	modeSink    = 'U' // read and discard everything (bulk client -> backend)
	modeSource  = 'D' // send as fast as possible until the connection breaks (bulk backend -> client)
	modeHTTP    = 'G' // "GET ...": a WebSocket opening handshake, served by websocket.EchoHandler
	numBackends = 3
)

// backendAddrs is what the backend process serves on.
type backendAddrs struct {
	Plain []string // numBackends plain listeners, what the proxies forward to
	TLS   string   // a TLS listener with the ECDSA certificate: the direct run of the TLS rows
	RSA   string   // a TLS listener with the RSA certificate: the direct run of the RSA row
}

// runBackends is the internal-backend subcommand: the numBackends loopback backends and the
// two TLS backends (the ECDSA and the RSA certificate), in a process of their own so that their
// CPU is neither the client's nor the proxy's. It prints "ready ADDR... TLSADDR RSAADDR" and
// serves until its stdin reaches EOF (the harness exited).
func runBackends(ecCert, ecKey, rsaCert, rsaKey string) error {
	var tlsConfigs []*tls.Config
	for _, f := range [][2]string{{ecCert, ecKey}, {rsaCert, rsaKey}} {
		cert, err := tls.LoadX509KeyPair(f[0], f[1])
		if err != nil {
			return fmt.Errorf("backend certificate: %w", err)
		}
		tlsConfigs = append(tlsConfigs, &tls.Config{Certificates: []tls.Certificate{cert}})
	}
	var addrs []string
	for i := range numBackends + len(tlsConfigs) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return fmt.Errorf("backend listen: %w", err)
		}
		if i >= numBackends {
			ln = tls.NewListener(ln, tlsConfigs[i-numBackends])
		}
		addrs = append(addrs, ln.Addr().String())
		go acceptBackend(ln)
	}
	fmt.Printf("ready %s\n", strings.Join(addrs, " "))
	_, _ = io.Copy(io.Discard, os.Stdin)
	return nil
}

// parseBackendReady parses the backend process's "ready" line.
func parseBackendReady(line string) (backendAddrs, error) {
	f := strings.Fields(line)
	if len(f) != numBackends+3 || f[0] != "ready" {
		return backendAddrs{}, fmt.Errorf("backend said %q, want \"ready\" and %d addresses", line, numBackends+2)
	}
	return backendAddrs{Plain: f[1 : 1+numBackends], TLS: f[1+numBackends], RSA: f[2+numBackends]}, nil
}

// acceptBackend serves ln until it is closed. Other accept errors (EMFILE when a test opens
// more connections than the fd limit allows) are logged and retried.
func acceptBackend(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if errors.Is(err, net.ErrClosed) {
			return
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "backend accept:", err)
			time.Sleep(10 * time.Millisecond)
			continue
		}
		go serveBackend(c)
	}
}

// serveBackend reads the mode byte of c and does what it says; an HTTP request goes to the
// WebSocket server with its first byte put back.
func serveBackend(c net.Conn) {
	var mode [1]byte
	if _, err := io.ReadFull(c, mode[:]); err != nil {
		c.Close()
		return
	}
	if mode[0] == modeHTTP {
		wsBackend().serve(&replayConn{Conn: c, head: mode[:]})
		return
	}
	defer c.Close()
	switch mode[0] {
	case modeEcho:
		buf := make([]byte, 16<<10)
		for {
			n, err := c.Read(buf)
			if n > 0 {
				if _, werr := c.Write(buf[:n]); werr != nil {
					return
				}
			}
			if err != nil {
				return
			}
		}
	case modeSink:
		buf := make([]byte, 256<<10)
		for {
			if _, err := c.Read(buf); err != nil {
				return
			}
		}
	case modeSource:
		buf := make([]byte, 256<<10)
		for {
			if _, err := c.Write(buf); err != nil {
				return
			}
		}
	}
}

// replayConn is a connection whose first bytes, already read, are read again.
type replayConn struct {
	net.Conn
	head []byte
}

func (c *replayConn) Read(p []byte) (int, error) {
	if len(c.head) > 0 {
		n := copy(p, c.head)
		c.head = c.head[n:]
		return n, nil
	}
	return c.Conn.Read(p)
}

// connFeed is a net.Listener whose connections are handed over by serve: the backends' one
// WebSocket server (an http.Server with websocket.EchoHandler) takes its connections from it.
type connFeed struct {
	conns chan net.Conn
}

// wsBackend starts the WebSocket server on first use and returns its feed.
var wsBackend = sync.OnceValue(func() *connFeed {
	f := &connFeed{conns: make(chan net.Conn)}
	srv := &http.Server{Handler: websocket.EchoHandler("backend", nil), ReadHeaderTimeout: ioTimeout,
		ErrorLog: log.New(os.Stderr, "backend http: ", 0)}
	go func() { _ = srv.Serve(f) }()
	return f
})

func (f *connFeed) serve(c net.Conn) { f.conns <- c }

func (f *connFeed) Accept() (net.Conn, error) { return <-f.conns, nil }
func (f *connFeed) Close() error              { return nil } // never closed: lives as long as the process
func (f *connFeed) Addr() net.Addr            { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)} }

// startBackends starts the backend process and waits for its addresses.
func startBackends(self, dir string, cert certFiles) (*child, backendAddrs, error) {
	var out io.ReadCloser
	c, err := startChild("backends", dir+"/backends.log", nil, &out, self, "internal-backend",
		cert.ECDSA.Cert, cert.ECDSA.Key, cert.RSA.Cert, cert.RSA.Key)
	if err != nil {
		return nil, backendAddrs{}, err
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		_ = c.stop()
		return nil, backendAddrs{}, fmt.Errorf("backends did not start: %v\n%s", err, c.logTail())
	}
	a, err := parseBackendReady(line)
	if err != nil {
		_ = c.stop()
		return nil, backendAddrs{}, err
	}
	return c, a, nil
}
