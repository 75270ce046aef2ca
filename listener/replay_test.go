package listener

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestReplayFailureCountedAgainstBackend pins one of issue 10's smaller defects: when replaying
// the request head to the backend failed, the connection was neither counted as a refusal nor
// held against the backend, unlike a response timeout. A backend that takes no bytes (a tiny
// receive buffer and segment size, never read) makes the replay of a 1 MB head outlast the connect timeout.
func TestReplayFailureCountedAgainstBackend(t *testing.T) {
	t.Parallel()
	lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		c.Control(func(fd uintptr) {
			// A small receive buffer and segment size: the proxy's send buffer, which the
			// kernel sizes from the segment size, cannot absorb the whole head.
			serr = errors.Join(syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096),
				syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_MAXSEG, 536))
		})
		return serr
	}}
	ln, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close() // held, never read, until the test ends
		}
	}()
	p := startProxy(t, fmt.Sprintf(`
[[listeners]]
name = "l"
listen = "127.0.0.1:0"
upstream = "app"
preamble = "http"
max_preamble = 1048576
  [listeners.timeouts]
  connect = "300ms"
[upstreams.app]
servers = ["%s"]
`, ln.Addr()))
	c := dialFrom(t, "127.0.0.1", p.addr("l"))
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	head := "GET / HTTP/1.1\r\nHost: test\r\nX-Big: " + strings.Repeat("x", 1000000) + "\r\n\r\n"
	if _, err := c.Write([]byte(head)); err != nil {
		t.Fatal(err)
	}
	c.Read(make([]byte, 1)) // until tether closes
	p.log.waitLog(t, `"reason":"backend write failed"`, `"disabled":true`)
	if m := metricsText(p); !strings.Contains(m, `tether_connections_refused_total{listener="l",reason="backend write failed"} 1`) {
		t.Fatalf("the failed replay is not counted as a refusal:\n%s", grepLines(m, "refused"))
	}
}
