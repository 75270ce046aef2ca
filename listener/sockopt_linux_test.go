package listener

import (
	"context"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/tether-proxy/tether/conf"
	"golang.org/x/sys/unix"
)

// TestAcceptedKeepAlive: sockets accepted by a tether listener carry the keepalive settings
// that listen put on the listening socket, without a setsockopt per connection.
func TestAcceptedKeepAlive(t *testing.T) {
	ln, err := listen(context.Background(), &conf.Listener{Name: "ka", Listen: "127.0.0.1:0", Addr: netip.MustParseAddrPort("127.0.0.1:0")})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	a, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	rc, err := a.(*net.TCPConn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range []struct {
		name       string
		level, opt int
		want       int
	}{
		{"SO_KEEPALIVE", unix.SOL_SOCKET, unix.SO_KEEPALIVE, 1},
		{"TCP_KEEPIDLE", unix.IPPROTO_TCP, unix.TCP_KEEPIDLE, int(keepAlive.Idle / time.Second)},
		{"TCP_KEEPINTVL", unix.IPPROTO_TCP, unix.TCP_KEEPINTVL, int(keepAlive.Interval / time.Second)},
		{"TCP_KEEPCNT", unix.IPPROTO_TCP, unix.TCP_KEEPCNT, keepAlive.Count},
		{"TCP_NODELAY", unix.IPPROTO_TCP, unix.TCP_NODELAY, 1},
	} {
		var got int
		var gerr error
		rc.Control(func(fd uintptr) { got, gerr = unix.GetsockoptInt(int(fd), o.level, o.opt) })
		if gerr != nil || got != o.want {
			t.Errorf("accepted socket %s = %d, %v; want %d", o.name, got, gerr, o.want)
		}
	}
}

// TestLoopAcceptedNoDelay: a socket accepted with accept4 from a listening socket that
// setListenerNoDelay set up has TCP_NODELAY, as a Go-accepted one does (the event loops accept
// with accept4).
func TestLoopAcceptedNoDelay(t *testing.T) {
	ln, err := listen(context.Background(), &conf.Listener{Name: "nd", Listen: "127.0.0.1:0", Addr: netip.MustParseAddrPort("127.0.0.1:0")})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	rc, err := ln.(*net.TCPListener).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var lfd int
	rc.Control(func(fd uintptr) { lfd = int(fd) })
	if err := setListenerNoDelay(lfd); err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var afd int
	var aerr error
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		rc.Control(func(fd uintptr) { afd, _, aerr = unix.Accept4(int(fd), unix.SOCK_CLOEXEC) })
		if aerr != unix.EAGAIN {
			break
		}
	}
	if aerr != nil {
		t.Fatal(aerr)
	}
	defer unix.Close(afd)
	if v, err := unix.GetsockoptInt(afd, unix.IPPROTO_TCP, unix.TCP_NODELAY); err != nil || v != 1 {
		t.Errorf("accept4'd socket TCP_NODELAY = %d, %v; want 1", v, err)
	}
}
