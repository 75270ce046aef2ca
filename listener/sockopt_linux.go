package listener

import (
	"net"
	"os"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

func setIPv6Only(c syscall.RawConn, on bool) error {
	v := 0
	if on {
		v = 1
	}
	var serr error
	err := c.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_IPV6, unix.IPV6_V6ONLY, v)
	})
	if err != nil {
		return err
	}
	return serr
}

func setReusePort(c syscall.RawConn) error {
	var serr error
	err := c.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1)
	})
	if err != nil {
		return err
	}
	return serr
}

// setListenerNoDelay sets TCP_NODELAY on listening socket fd: Linux copies it to the sockets it
// accepts, so those the event loops accept (accept4, not Go's net package, which sets it on
// each connection) send small writes and the last segment of a burst at once, as every
// tether socket does. Without it a TLS tunnel's records wait for ACKs (Nagle): 15% less TLS
// bulk toward clients.
func setListenerNoDelay(fd int) error {
	return os.NewSyscallError("setsockopt", unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1))
}

// keepAliveInherited: Linux copies SO_KEEPALIVE and the TCP keepalive settings of a listening
// socket to the sockets it accepts (tcp_create_openreq_child arms the keepalive timer), so
// setting them once on the listener saves four setsockopt calls per connection.
const keepAliveInherited = true

// setListenerKeepAlive sets ka on a listening socket for its accepted sockets to inherit.
func setListenerKeepAlive(c syscall.RawConn, ka net.KeepAliveConfig) error {
	var serr error
	err := c.Control(func(fd uintptr) {
		for _, o := range []struct{ level, opt, v int }{
			{unix.SOL_SOCKET, unix.SO_KEEPALIVE, 1},
			{unix.IPPROTO_TCP, unix.TCP_KEEPIDLE, int(ka.Idle / time.Second)},
			{unix.IPPROTO_TCP, unix.TCP_KEEPINTVL, int(ka.Interval / time.Second)},
			{unix.IPPROTO_TCP, unix.TCP_KEEPCNT, ka.Count},
		} {
			if serr = unix.SetsockoptInt(int(fd), o.level, o.opt, o.v); serr != nil {
				serr = os.NewSyscallError("setsockopt", serr)
				return
			}
		}
	})
	if err != nil {
		return err
	}
	return serr
}
