package websocket

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"testing"
)

// repeatReader replays the same bytes forever.
type repeatReader struct {
	data []byte
	off  int
}

func (r *repeatReader) Read(p []byte) (int, error) {
	n := copy(p, r.data[r.off:])
	r.off = (r.off + n) % len(r.data)
	return n, nil
}

func BenchmarkWriteMessage(b *testing.B) {
	for _, client := range []bool{false, true} {
		for _, size := range []int{128, 16 << 10, 1 << 20} {
			b.Run(fmt.Sprintf("client=%v/%d", client, size), func(b *testing.B) {
				c := newConn(&fakeConn{r: bytes.NewReader(nil), w: io.Discard}, nil, client)
				msg := make([]byte, size)
				b.SetBytes(int64(size))
				b.ReportAllocs()
				for b.Loop() {
					if err := c.WriteMessage(OpBinary, msg); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

func BenchmarkReadMessage(b *testing.B) {
	for _, size := range []int{128, 16 << 10, 1 << 20} {
		b.Run(fmt.Sprint(size), func(b *testing.B) {
			frame := rawFrame(true, OpBinary, make([]byte, size), true)
			c := newConn(&fakeConn{r: &repeatReader{data: frame}}, nil, false)
			c.br = bufio.NewReader(c.conn)
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				if _, _, err := c.ReadMessage(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkMask(b *testing.B) {
	buf := make([]byte, 64<<10)
	b.SetBytes(int64(len(buf)))
	for b.Loop() {
		maskBytes(testKey, 1, buf)
	}
}

// BenchmarkEchoLoopback is a round trip through EchoHandler over TCP.
func BenchmarkEchoLoopback(b *testing.B) {
	srv := newServer(b, false, EchoHandler("bench", nil))
	c := dialWS(b, srv, "/ws")
	readHello(b, c, "bench")
	msg := make([]byte, 1024)
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	for b.Loop() {
		if err := c.WriteMessage(OpBinary, msg); err != nil {
			b.Fatal(err)
		}
		if _, _, err := c.ReadMessage(); err != nil {
			b.Fatal(err)
		}
	}
}
