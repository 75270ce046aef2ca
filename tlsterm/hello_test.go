//go:build linux

package tlsterm

import (
	"errors"
	"net"
	"testing"
	"time"
)

// TestHelloArrived: the first record counts as arrived once its header and all the body its
// length field announces are queued, and no sooner; bytes that are not a TLS handshake record
// end the wait at once, and so does a client that closed without sending any.
func TestHelloArrived(t *testing.T) {
	record := func(length, body int) []byte {
		b := []byte{recordHandshake, 3, 1, byte(length >> 8), byte(length)}
		return append(b, make([]byte, body)...)
	}
	for _, tc := range []struct {
		name    string
		sent    []byte
		closed  bool
		arrived bool
		err     error
	}{
		{"nothing yet", nil, false, false, nil},
		{"part of the header", record(0x0203, 0)[:3], false, false, nil},
		{"header only", record(0x0203, 0), false, false, nil},
		{"one byte short", record(0x0203, 0x0202), false, false, nil}, // a length read as (5 + 0x0200) | 0x03 took this for whole
		{"whole", record(0x0203, 0x0203), false, true, nil},
		{"whole and more", record(0x00fa, 0x0100), false, true, nil},
		{"not TLS", []byte("GET / HTTP/1.1\r\n"), false, true, nil},
		{"oversized record", record(0xffff, 10), false, true, nil},
		{"closed before a byte", nil, true, true, ErrClosedBeforeHello},
	} {
		t.Run(tc.name, func(t *testing.T) {
			client, server := tcpPair(t)
			defer server.Close()
			if len(tc.sent) > 0 {
				if _, err := client.Write(tc.sent); err != nil {
					t.Fatal(err)
				}
			}
			if tc.closed {
				client.Close()
			} else {
				defer client.Close()
			}
			rc, _ := server.SyscallConn()
			var arrived bool
			var err error
			// Ask once everything sent is queued (loopback delivers within the write, but do not
			// count on it), or, for a client that closed, once the end shows.
			for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
				rc.Control(func(fd uintptr) { arrived, err = HelloArrived(int(fd)) })
				queued := 0
				rc.Control(func(fd uintptr) { queued = queuedBytes(int(fd)) })
				if queued >= len(tc.sent) && (!tc.closed || err != nil) {
					break
				}
			}
			if arrived != tc.arrived || !errors.Is(err, tc.err) || (err == nil) != (tc.err == nil) {
				t.Errorf("HelloArrived = %v, %v; want %v, %v", arrived, err, tc.arrived, tc.err)
			}
		})
	}
}

func tcpPair(t *testing.T) (client, server *net.TCPConn) {
	t.Helper()
	ln, err := net.ListenTCP("tcp", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err = net.DialTCP("tcp", nil, ln.Addr().(*net.TCPAddr))
	if err != nil {
		t.Fatal(err)
	}
	server, err = ln.AcceptTCP()
	if err != nil {
		t.Fatal(err)
	}
	return client, server
}
