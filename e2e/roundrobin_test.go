package e2e

import (
	"crypto/tls"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
)

// startRoundRobin runs the non-sticky setup the Socket.io test must catch: a TLS-terminating
// TCP proxy that sends each new connection to the next backend in turn, whatever the client
// address (what HAProxy `mode tcp` with `balance roundrobin`, or an nginx `stream` upstream
// without `hash`, does). It serves certFile/keyFile and returns its address; it stops when the
// test ends.
func startRoundRobin(t testing.TB, certFile, keyFile string, backends []string) string {
	t.Helper()
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	ln := tls.NewListener(listenLoopback(t), &tls.Config{
		Certificates: []tls.Certificate{cert},
		NextProtos:   []string{"http/1.1"},
	})
	var (
		next   atomic.Uint64
		wg     sync.WaitGroup
		mu     sync.Mutex
		closed bool
		conns  = make(map[net.Conn]struct{})
	)
	// track records an open client connection, so that the end of the test can close it; it
	// reports false once the proxy is closing.
	track := func(c net.Conn) bool {
		mu.Lock()
		defer mu.Unlock()
		if !closed {
			conns[c] = struct{}{}
		}
		return !closed
	}
	untrack := func(c net.Conn) {
		mu.Lock()
		defer mu.Unlock()
		delete(conns, c)
	}
	wg.Go(func() {
		for {
			client, err := ln.Accept()
			if err != nil {
				return
			}
			backend := backends[(next.Add(1)-1)%uint64(len(backends))]
			wg.Go(func() {
				defer client.Close()
				if !track(client) {
					return
				}
				defer untrack(client)
				server, err := net.Dial("tcp", backend)
				if err != nil {
					t.Logf("round-robin proxy: %v", err)
					return
				}
				defer server.Close()
				done := make(chan struct{}, 2)
				pipe := func(dst, src net.Conn) {
					_, _ = io.Copy(dst, src)
					done <- struct{}{}
				}
				go pipe(server, client)
				go pipe(client, server)
				<-done // either side finished: end the connection, like a simple L4 proxy
				client.Close()
				server.Close()
				<-done
			})
		}
	})
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		closed = true
		for c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return ln.Addr().String()
}
