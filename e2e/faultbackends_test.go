//go:build linux

package e2e

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tether-proxy/tether/internal/websocket"
)

// faultyBackend is a WebSocket backend that misbehaves on purpose, chosen by request path:
//
//	/fin     upgrades, says hello, streams streamMessages binary messages, then closes (FIN)
//	/rst     the same, then resets the connection: close with SO_LINGER 0 sends an RST and
//	         drops whatever the kernel had not sent yet
//	/silent  accepts the request and never answers; it closes only when its peer does
type faultyBackend struct{}

// The stream of /fin and /rst: streamMessages messages of streamMessageSize bytes.
const (
	streamMessages    = 64
	streamMessageSize = 16 << 10
)

// streamMessage is the i-th message of the stream, different in every message.
func streamMessage(i int) []byte {
	b := make([]byte, streamMessageSize)
	for j := range b {
		b[j] = byte((i*31 + j) % 251)
	}
	return b
}

func (faultyBackend) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/fin", "/rst":
		ws, err := websocket.Upgrade(w, r)
		if err != nil {
			return
		}
		tc := ws.NetConn().(*net.TCPConn)
		defer tc.Close()
		tc.SetWriteDeadline(time.Now().Add(30 * time.Second))
		if ws.WriteMessage(websocket.OpText, []byte("hello from flaky")) != nil {
			return
		}
		for i := range streamMessages {
			if ws.WriteMessage(websocket.OpBinary, streamMessage(i)) != nil {
				return
			}
		}
		if r.URL.Path == "/rst" {
			tc.SetLinger(0)
		}
	case "/silent":
		conn, _, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		conn.SetReadDeadline(time.Now().Add(30 * time.Second))
		io.Copy(io.Discard, conn)
	default:
		http.NotFound(w, r)
	}
}

// refusingAddr returns the address of a socket bound on loopback that never listens: the
// kernel refuses every connect (RST), and the port stays ours until the test ends.
func refusingAddr(t testing.TB) string {
	t.Helper()
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	return sockAddr(t, fd)
}

// blackholeAddr returns the address of a listener whose connects never complete: it listens
// with a backlog of 0 and never accepts, and the test fills its accept queue, after which
// Linux drops every SYN (tcp_conn_request: "sk_acceptq_is_full ... goto drop"). It fails the
// test unless a connect to it is seen to time out.
func blackholeAddr(t testing.TB) string {
	t.Helper()
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := unix.Listen(fd, 0); err != nil {
		t.Fatal(err)
	}
	addr := sockAddr(t, fd)
	for range 8 {
		c, err := net.DialTimeout("tcp", addr, 500*time.Millisecond)
		if isTimeout(err) {
			return addr
		}
		if err != nil {
			t.Fatalf("filling the accept queue of %s: %v", addr, err)
		}
		t.Cleanup(func() { c.Close() })
	}
	t.Fatalf("connects to %s (listen backlog 0, never accepting) still complete after 8 in its queue", addr)
	return ""
}

// sockAddr is the host:port a bound IPv4 socket has.
func sockAddr(t testing.TB, fd int) string {
	t.Helper()
	sa, err := unix.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	in4, ok := sa.(*unix.SockaddrInet4)
	if !ok {
		t.Fatalf("socket address %T", sa)
	}
	return fmt.Sprintf("127.0.0.1:%d", in4.Port)
}
