package listener

import (
	"context"
	"fmt"
	"net"
	"syscall"
	"time"

	"github.com/tether-proxy/tether/conf"
	"github.com/tether-proxy/tether/splice"
)

// keepAlive is the TCP keepalive of both legs of every tunnel: a peer that vanished without a
// FIN or RST (power loss, NAT state dropped) is found after about 60s + 4*15s of silence, so
// dead tunnels do not pile up for the whole idle timeout. Probes cost nothing on the data path.
// Accepted sockets inherit it from the listening socket on Linux (no setsockopt per
// connection); dialed ones pay four setsockopt calls, kept on purpose: a backend host that
// dies silently would otherwise hold its tunnels until the kernel gives up retransmitting.
var keepAlive = net.KeepAliveConfig{Enable: true, Idle: 60 * time.Second, Interval: 15 * time.Second, Count: 4}

// backendKeepAlive is keepAlive for backend sockets, set by the tunnel (splice.Options): on the
// event loop only once the tunnel is 10 s old, so short connections skip its system calls.
var backendKeepAlive = splice.KeepAlive{Idle: keepAlive.Idle, Interval: keepAlive.Interval, Count: keepAlive.Count}

// listen opens the socket of one listener. IPv4 addresses get an AF_INET socket and IPv6
// addresses an AF_INET6 one whose IPV6_V6ONLY follows the config (nginx's `ipv6only`), so the
// socket family, and with it the client's $remote_addr spelling, is what nginx would have.
func listen(ctx context.Context, l *conf.Listener) (net.Listener, error) {
	network := "tcp4"
	if l.Addr.Addr().Is6() {
		network = "tcp6"
	}
	lc := net.ListenConfig{
		KeepAlive: -1, // accepted conns inherit keepAlive from the listening socket (Linux) or get it in acceptLoop
		Control: func(_, _ string, c syscall.RawConn) error {
			if keepAliveInherited {
				if err := setListenerKeepAlive(c, keepAlive); err != nil {
					return err
				}
			}
			if l.ReusePort {
				if err := setReusePort(c); err != nil {
					return err
				}
			}
			if network != "tcp6" {
				return nil
			}
			return setIPv6Only(c, l.IPv6Only)
		},
	}
	ln, err := lc.Listen(ctx, network, l.Addr.String())
	if err != nil {
		return nil, fmt.Errorf("listener %s: listen %s: %w", l.Name, l.Listen, err)
	}
	return ln, nil
}
