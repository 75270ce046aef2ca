package bench

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/tether-proxy/tether/conf"
	"github.com/tether-proxy/tether/listener"
	"github.com/tether-proxy/tether/splice"
)

// wsUpgrade is a client's opening handshake (RFC 6455 section 4.1) and wsSwitch the backend's
// answer, enough for tether to track the tunnel's frames.
const (
	wsUpgrade = "GET /ws HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
	wsSwitch = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n"
)

// Frame sizes of the WebSocket benchmarks: 256 KiB binary messages for bulk (the size of the
// messages in issue 14's tests), and 64-byte frames (header included) for round trips.
const (
	wsBulkPayload = 256 << 10
	wsBulkBytes   = 8 << 20 // per iteration
	wsSmallFrame  = 64
)

// wsFrameHeader is a binary frame's header for a payload of n bytes, masked (with a zero key:
// tether never reads payloads) when it goes to the server.
func wsFrameHeader(n int, masked bool) []byte {
	var mb byte
	if masked {
		mb = 0x80
	}
	var h []byte
	switch {
	case n < 126:
		h = []byte{0x82, mb | byte(n)}
	case n <= 0xFFFF:
		h = binary.BigEndian.AppendUint16([]byte{0x82, mb | 126}, uint16(n))
	default:
		h = binary.BigEndian.AppendUint64([]byte{0x82, mb | 127}, uint64(n))
	}
	if masked {
		h = append(h, 0, 0, 0, 0)
	}
	return h
}

// wsFrame is a whole frame of total size size (header included).
func wsFrame(size int, masked bool) []byte {
	hl := len(wsFrameHeader(size, masked))
	f := wsFrameHeader(size-hl, masked)
	if len(f) != hl {
		f = wsFrameHeader(size-len(f), masked)
	}
	return append(f, make([]byte, size-len(f))...)
}

// wsRig is a tether listener (preamble "websocket") in front of an in-process backend that
// answers 101, and one upgraded tunnel through it. The peers share the process: compare the
// tracked and untracked runs of one benchmark, not absolute figures.
type wsRig struct {
	client, backend    net.Conn
	cr, br             *bufio.Reader
	upFrame, downFrame []byte // 256 KiB messages
	upSmall, downSmall []byte // 64-byte frames
	buf                []byte
}

// startWSRig starts tether with close_grace (0s: no frame tracking) and opens one tunnel.
func startWSRig(tb testing.TB, engine splice.EngineConfig, closeGrace string) *wsRig {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { ln.Close() })
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			close(accepted)
			return
		}
		accepted <- c
	}()
	eng := splice.NewEngine(engine)
	toml := fmt.Sprintf("[[listeners]]\nname = \"ws\"\nlisten = \"127.0.0.1:0\"\nupstream = \"peer\"\npreamble = \"websocket\"\n"+
		"timeouts.close_grace = %q\n[upstreams.peer]\nservers = [%q]\n", closeGrace, ln.Addr().String())
	cfg, err := conf.Parse(filepath.Join(tb.TempDir(), "tether.toml"), []byte(toml))
	if err != nil {
		tb.Fatal(err)
	}
	srv, err := listener.New(context.Background(), cfg, listener.Options{Logger: slog.New(slog.DiscardHandler), Engine: eng})
	if err != nil {
		tb.Fatal(err)
	}
	if err := srv.Listen(context.Background()); err != nil {
		tb.Fatal(err)
	}
	done := make(chan struct{})
	go func() { srv.Serve(); close(done) }()
	r := &wsRig{}
	tb.Cleanup(func() {
		if r.client != nil {
			r.client.Close()
		}
		if r.backend != nil {
			r.backend.Close()
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		<-done
		eng.Close()
	})
	if r.client, err = net.Dial("tcp", srv.Addr("ws").String()); err != nil {
		tb.Fatal(err)
	}
	if _, err := io.WriteString(r.client, wsUpgrade); err != nil {
		tb.Fatal(err)
	}
	var ok bool
	if r.backend, ok = <-accepted; !ok {
		tb.Fatal("the backend accepted nothing")
	}
	r.cr, r.br = bufio.NewReaderSize(r.client, 256<<10), bufio.NewReaderSize(r.backend, 256<<10)
	head := make([]byte, len(wsUpgrade))
	if _, err := io.ReadFull(r.br, head); err != nil || string(head) != wsUpgrade {
		tb.Fatalf("backend got %q, %v", head, err)
	}
	if _, err := io.WriteString(r.backend, wsSwitch); err != nil {
		tb.Fatal(err)
	}
	head = make([]byte, len(wsSwitch))
	if _, err := io.ReadFull(r.cr, head); err != nil || string(head) != wsSwitch {
		tb.Fatalf("client got %q, %v", head, err)
	}
	r.upFrame, r.downFrame = wsFrame(wsBulkPayload+14, true), wsFrame(wsBulkPayload+10, false)
	r.upSmall, r.downSmall = wsFrame(wsSmallFrame, true), wsFrame(wsSmallFrame, false)
	r.buf = make([]byte, wsSmallFrame)
	return r
}

// bulk sends n bytes' worth of whole frames from w and reads them from r, each way on its own
// goroutine.
func bulk(w net.Conn, r io.Reader, frame []byte, n int) error {
	frames := n / len(frame)
	errc := make(chan error, 1)
	go func() {
		for range frames {
			if _, err := w.Write(frame); err != nil {
				errc <- err
				return
			}
		}
		errc <- nil
	}()
	if _, err := io.CopyN(io.Discard, r, int64(frames*len(frame))); err != nil {
		return err
	}
	return <-errc
}

// wsWorkloads are what BenchmarkWebSocketTunnel moves through a tunnel in one unit of work:
// wsBulkBytes of 256 KiB messages one way (backend to client, or client to backend), or one
// 64-byte round trip.
var wsWorkloads = []struct {
	name  string
	bytes int64
	run   func(r *wsRig) error
}{
	{"bulk-down", wsBulkBytes, func(r *wsRig) error {
		return bulk(r.backend, r.cr, r.downFrame, wsBulkBytes)
	}},
	{"bulk-up", wsBulkBytes, func(r *wsRig) error {
		return bulk(r.client, r.br, r.upFrame, wsBulkBytes)
	}},
	{"roundtrip-64B", 0, func(r *wsRig) error {
		if _, err := r.client.Write(r.upSmall); err != nil {
			return err
		}
		if _, err := io.ReadFull(r.br, r.buf); err != nil || !bytes.Equal(r.buf, r.upSmall) {
			return fmt.Errorf("backend read: %v", err)
		}
		if _, err := r.backend.Write(r.downSmall); err != nil {
			return err
		}
		_, err := io.ReadFull(r.cr, r.buf)
		return err
	}},
}

// BenchmarkWebSocketTunnel measures what following WebSocket frames (issue 14) costs a tunnel:
// two upgraded tunnels through two whole listener.Servers, one with close_grace "0s"
// (untracked) and one with "5s" (frames followed both ways), for 256 KiB messages each way and
// for 64-byte round trips, on the splice and copy engines. Each iteration runs one unit of work
// on each tunnel, in alternating order, so that the load of a shared machine falls on both
// alike; it reports both rates (MB/s, or ns per round trip) and tracked/untracked, the figure
// that matters (throughput ratio for bulk, time ratio for round trips).
func BenchmarkWebSocketTunnel(b *testing.B) {
	for _, k := range tunnelKinds[:2] {
		for _, w := range wsWorkloads {
			b.Run(k.name+"/"+w.name, func(b *testing.B) {
				rigs := [2]*wsRig{startWSRig(b, k.engine, "0s"), startWSRig(b, k.engine, "5s")}
				var spent [2]time.Duration
				i := 0
				for b.Loop() {
					for j := range 2 {
						r := (i + j) % 2
						start := time.Now()
						if err := w.run(rigs[r]); err != nil {
							b.Fatal(err)
						}
						spent[r] += time.Since(start)
					}
					i++
				}
				if w.bytes > 0 {
					rate := func(d time.Duration) float64 { return float64(w.bytes) * float64(b.N) / 1e6 / d.Seconds() }
					b.ReportMetric(rate(spent[0]), "untracked-MB/s")
					b.ReportMetric(rate(spent[1]), "tracked-MB/s")
					b.ReportMetric(rate(spent[1])/rate(spent[0]), "tracked/untracked")
					return
				}
				b.ReportMetric(float64(spent[0].Nanoseconds())/float64(b.N), "untracked-ns/rt")
				b.ReportMetric(float64(spent[1].Nanoseconds())/float64(b.N), "tracked-ns/rt")
				b.ReportMetric(float64(spent[1])/float64(spent[0]), "tracked/untracked")
			})
		}
	}
}
