package splice

import (
	"context"
	"io"
	"net"
	"net/netip"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// dialHandler sets each accepted connection up by dialing backend and tunnelling to it: the
// smallest SetupHandler. Each backend socket's descriptor goes to fds once connected.
type dialHandler struct {
	backend netip.AddrPort
	ka      *KeepAlive
	fds     chan int
	done    chan Result
}

func (h *dialHandler) Advance(s *Setup) {
	if s.t.backend.fd < 0 {
		if err := s.Dial(h.backend, netip.Addr{}, h.ka); err != nil {
			s.Close(true)
			return
		}
	}
	ok, err := s.Connected()
	switch {
	case err != nil:
		s.Close(true)
	case ok:
		h.fds <- s.t.backend.fd
		s.Tunnel(Options{Idle: time.Minute}, func(r Result) { h.done <- r })
	}
}

// TestSetupTunnels pins the event loop's connection setup (Engine.Accept, Setup): a connection
// accepted by the loop, dialled without blocking and turned into a tunnel in place carries
// bytes both ways and ends cleanly; the backend socket gets TCP keepalive only once the tunnel
// has lived keepAliveAfter (so short connections do not pay its system calls).
func TestSetupTunnels(t *testing.T) {
	defer func(was time.Duration) { keepAliveAfter = was }(keepAliveAfter)
	keepAliveAfter = 200 * time.Millisecond
	e := NewEngine(EngineConfig{Mode: ModeEventLoop})
	defer e.Close()
	if !e.CanAccept() {
		t.Skip("no event loops here")
	}
	backend, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer backend.Close()
	go func() {
		for {
			c, err := backend.Accept()
			if err != nil {
				return
			}
			go func() { io.Copy(c, c); c.Close() }()
		}
	}()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	h := &dialHandler{backend: backend.Addr().(*net.TCPAddr).AddrPort(), ka: &KeepAlive{Idle: time.Minute, Interval: 15 * time.Second, Count: 4},
		fds: make(chan int, 1), done: make(chan Result, 1)}
	rc, _ := ln.(*net.TCPListener).SyscallConn()
	var a *Acceptor
	rc.Control(func(fd uintptr) { a, err = e.Accept(int(fd), func(*Setup) SetupHandler { return h }, nil) })
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()

	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, "ping"); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4)
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "ping" {
		t.Fatalf("echo %q, %v", buf, err)
	}
	fd := <-h.fds
	keepalive := func() int {
		v, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_KEEPALIVE)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	if keepalive() != 0 {
		t.Error("the backend socket has keepalive at once")
	}
	time.Sleep(3 * keepAliveAfter)
	if keepalive() != 1 {
		t.Errorf("the backend socket has no keepalive after %v", 3*keepAliveAfter)
	}
	if idle, _ := unix.GetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_KEEPIDLE); idle != 60 {
		t.Errorf("TCP_KEEPIDLE = %d, want 60", idle)
	}
	c.(*net.TCPConn).CloseWrite()
	io.Copy(io.Discard, c)
	select {
	case r := <-h.done:
		if r.Reason != ClientClosed || r.Up != 4 || r.Down != 4 {
			t.Errorf("Result = %+v, want client closed after 4 bytes each way", r)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the tunnel did not end")
	}
}

// TestStartBackendKeepAlive: Options.BackendKeepAlive reaches a tunnel handed to Start: on an
// event loop only once the tunnel has lived keepAliveAfter, on goroutines at once.
func TestStartBackendKeepAlive(t *testing.T) {
	defer func(was time.Duration) { keepAliveAfter = was }(keepAliveAfter)
	keepAliveAfter = 200 * time.Millisecond
	for _, tc := range []struct {
		mode    Mode
		atOnce  bool
		wantAge time.Duration // by when it must be set
	}{
		{ModeEventLoop, false, 3 * keepAliveAfter},
		{ModeGoroutines, true, 0},
	} {
		t.Run(tc.mode.String(), func(t *testing.T) {
			e := NewEngine(EngineConfig{Mode: tc.mode})
			defer e.Close()
			clientPeer, client := tcpPair(t)
			backend, backendPeer := tcpPair(t)
			backend.SetKeepAlive(false) // net.Dial turned it on
			defer clientPeer.Close()
			defer backendPeer.Close()
			// A duplicate of the backend socket's descriptor reads its options after the
			// tunnel took the conn over.
			rc, _ := backend.SyscallConn()
			var fd int
			var derr error
			rc.Control(func(f uintptr) { fd, derr = unix.Dup(int(f)) })
			if derr != nil {
				t.Fatal(derr)
			}
			defer unix.Close(fd)
			keepalive := func() int {
				v, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_KEEPALIVE)
				if err != nil {
					t.Fatal(err)
				}
				return v
			}
			done := make(chan Result, 1)
			ka := &KeepAlive{Idle: time.Minute, Interval: 15 * time.Second, Count: 4}
			e.Start(context.Background(), client, backend, Options{BackendKeepAlive: ka}, func(r Result) { done <- r })
			if got := keepalive() == 1; got != tc.atOnce {
				t.Errorf("keepalive at once = %v, want %v", got, tc.atOnce)
			}
			time.Sleep(tc.wantAge)
			if keepalive() != 1 {
				t.Errorf("no keepalive on the backend socket after %v", tc.wantAge)
			}
			if idle, _ := unix.GetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_KEEPIDLE); idle != 60 {
				t.Errorf("TCP_KEEPIDLE = %d, want 60", idle)
			}
			clientPeer.Close()
			backendPeer.Close()
			select {
			case <-done:
			case <-time.After(hangLimit):
				t.Fatal("the tunnel did not end")
			}
		})
	}
}
