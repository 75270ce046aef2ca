package main

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tether-proxy/tether/internal/websocket"
)

// report is one progress line of `wspeer clients`. Events, in order: "ramped" (every
// connection opened or failed), "tick" (one round of sampled echoes), "swept" (every connection
// echoed once more, still open), "done" (all closed).
type report struct {
	Event        string   `json:"event"`
	Open         int      `json:"open"`   // connections open and never broken
	Failed       int      `json:"failed"` // connections the ramp could not open
	Lost         int      `json:"lost"`   // connections that broke (or echoed wrong bytes) after the ramp
	Round        int      `json:"round,omitempty"`
	Echoes       int64    `json:"echoes"`        // echoes verified byte for byte
	BytesChecked int64    `json:"bytes_checked"` // payload bytes of those echoes
	Seconds      float64  `json:"seconds"`       // since the start (ramp: its duration)
	Errors       []string `json:"errors,omitempty"`
}

// crowd is the clients' connections and what they verified.
type crowd struct {
	target  string
	tls     *tls.Config
	src     [2]byte // connection i binds 127.src[0].src[1]+i/250.(1+i%250)... see srcAddr
	timeout time.Duration
	seed    uint64

	conns  []*websocket.Conn // nil: failed to open, or lost
	echoes atomic.Int64
	bytes  atomic.Int64

	mu     sync.Mutex
	failed int
	lost   int
	errs   []string
}

func runClients(args []string) error {
	fs := flag.NewFlagSet("clients", flag.ContinueOnError)
	target := fs.String("target", "", "tether's wss:// listener, host:port")
	caFile := fs.String("ca", "", "PEM file of the CA (self-signed certificate) to trust")
	n := fs.Int("n", 100, "connections")
	src := fs.String("src", "127.20", "first two octets of the source addresses: connection i binds a distinct 127.x.y.z")
	concurrency := fs.Int("concurrency", 200, "connections opened (and echoes run) at once")
	hold := fs.Duration("hold", 10*time.Second, "how long to hold the connections")
	every := fs.Duration("every", 5*time.Second, "interval between rounds of sampled echoes")
	sample := fs.Float64("sample", 0.05, "fraction of the connections echoing each round")
	timeout := fs.Duration("timeout", 30*time.Second, "bound of each step (connect, handshake, one echo)")
	seed := fs.Uint64("seed", 1, "payload seed")
	if err := fs.Parse(args); err != nil {
		return err
	}
	c, err := newCrowd(*target, *caFile, *src, *n, *timeout, *seed)
	if err != nil {
		return err
	}
	start := time.Now()
	c.ramp(*concurrency)
	emit(c.report("ramped", 0, time.Since(start)))

	perRound := *sample
	k := max(1, int(float64(*n)*perRound)) // connections echoing each round
	ticker := time.NewTicker(*every)
	end := time.After(*hold)
	round := 0
holding:
	for {
		select {
		case <-ticker.C:
			round++
			first := ((round - 1) * k) % *n // rounds rotate through every connection
			c.echoAll(round, first, k, *concurrency)
			emit(c.report("tick", round, time.Since(start)))
		case <-end:
			break holding
		}
	}
	ticker.Stop()
	round++
	c.echoAll(round, 0, *n, *concurrency)
	emit(c.report("swept", round, time.Since(start)))
	c.closeAll(*concurrency)
	r := c.report("done", 0, time.Since(start))
	emit(r)
	if r.Failed > 0 || r.Lost > 0 {
		return fmt.Errorf("%d connections failed to open, %d lost", r.Failed, r.Lost)
	}
	return nil
}

func newCrowd(target, caFile, src string, n int, timeout time.Duration, seed uint64) (*crowd, error) {
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, err
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("no certificate in %s", caFile)
	}
	host, _, err := net.SplitHostPort(target)
	if err != nil {
		return nil, fmt.Errorf("-target: %w", err)
	}
	c := &crowd{
		target: target, timeout: timeout, seed: seed, conns: make([]*websocket.Conn, n),
		tls: &tls.Config{RootCAs: roots, ServerName: host},
	}
	octets := strings.Split(src, ".")
	if len(octets) != 2 || octets[0] != "127" {
		return nil, fmt.Errorf("-src %q: want 127.N", src)
	}
	b, err := strconv.ParseUint(octets[1], 10, 8)
	if err != nil {
		return nil, fmt.Errorf("-src %q: %w", src, err)
	}
	c.src = [2]byte{127, byte(b)}
	if n > 250*256 {
		return nil, fmt.Errorf("-n %d: at most %d distinct source addresses in 127.%d/16", n, 250*256, b)
	}
	return c, nil
}

// srcAddr is connection i's source address: 127.B.(i/250).(1+i%250), one client address
// each, so tether's hash spreads them over the backends.
func (c *crowd) srcAddr(i int) net.IP {
	return net.IPv4(c.src[0], c.src[1], byte(i/250), byte(1+i%250))
}

// forEach runs f(i) for i in [first, first+count) modulo len(c.conns), concurrency at a time.
func (c *crowd) forEach(first, count, concurrency int, f func(i int)) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(concurrency, count) {
		wg.Go(func() {
			for {
				j := int(next.Add(1) - 1)
				if j >= count {
					return
				}
				f((first + j) % len(c.conns))
			}
		})
	}
	wg.Wait()
}

// ramp opens every connection, concurrency at a time.
func (c *crowd) ramp(concurrency int) {
	c.forEach(0, len(c.conns), concurrency, func(i int) {
		ws, err := c.open(i)
		if err != nil {
			c.problem(&c.failed, fmt.Sprintf("open %d from %s: %v", i, c.srcAddr(i), err))
			return
		}
		c.conns[i] = ws
	})
}

// open dials tether from connection i's address, does the TLS and WebSocket handshakes and
// reads the backend's hello.
func (c *crowd) open(i int) (*websocket.Conn, error) {
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: c.srcAddr(i)}, Timeout: c.timeout, KeepAlive: -1}
	raw, err := d.Dial("tcp", c.target)
	if err != nil {
		return nil, err
	}
	raw.SetDeadline(time.Now().Add(c.timeout))
	tc := tls.Client(raw, c.tls)
	ws, _, err := websocket.Client(tc, "wss://"+c.target+"/soak/"+strconv.Itoa(i), nil)
	if err != nil {
		raw.Close()
		return nil, err
	}
	op, hello, err := ws.ReadMessage()
	if err == nil && (op != websocket.OpText || !bytes.HasPrefix(hello, []byte("hello from "))) {
		err = fmt.Errorf("first message %s %q, want the backend's hello", op, hello)
	}
	if err != nil {
		raw.Close()
		return nil, err
	}
	raw.SetDeadline(time.Time{})
	return ws, nil
}

// echoAll runs one verified echo on count connections from first, concurrency at a time.
func (c *crowd) echoAll(round, first, count, concurrency int) {
	c.forEach(first, count, concurrency, func(i int) {
		ws := c.conns[i]
		if ws == nil {
			return
		}
		if err := c.echo(ws, i, round); err != nil {
			ws.NetConn().Close()
			c.conns[i] = nil
			c.problem(&c.lost, fmt.Sprintf("connection %d from %s, round %d: %v", i, c.srcAddr(i), round, err))
		}
	})
}

// echo sends a binary message whose length and bytes depend on (seed, i, round) and checks
// that the same bytes come back.
func (c *crowd) echo(ws *websocket.Conn, i, round int) error {
	var key [32]byte
	binary.LittleEndian.PutUint64(key[0:], c.seed)
	binary.LittleEndian.PutUint64(key[8:], uint64(i))
	binary.LittleEndian.PutUint64(key[16:], uint64(round))
	rng := rand.NewChaCha8(key)
	payload := make([]byte, 64+rng.Uint64()%1024) // both short and 16-bit frame lengths
	rng.Read(payload)

	ws.NetConn().SetDeadline(time.Now().Add(c.timeout))
	defer ws.NetConn().SetDeadline(time.Time{})
	if err := ws.WriteMessage(websocket.OpBinary, payload); err != nil {
		return fmt.Errorf("send: %w", err)
	}
	op, got, err := ws.ReadMessage()
	switch {
	case err != nil:
		return fmt.Errorf("receive: %w", err)
	case op != websocket.OpBinary || !bytes.Equal(got, payload):
		return fmt.Errorf("echo differs: sent %d bytes, got %s of %d bytes", len(payload), op, len(got))
	}
	c.echoes.Add(1)
	c.bytes.Add(int64(len(payload)))
	return nil
}

// closeAll closes every open connection with the WebSocket closing handshake.
func (c *crowd) closeAll(concurrency int) {
	c.forEach(0, len(c.conns), concurrency, func(i int) {
		if ws := c.conns[i]; ws != nil {
			if err := ws.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
				c.problem(nil, fmt.Sprintf("close %d: %v", i, err))
			}
		}
	})
}

// problem counts one failure in *counter (when not nil) and keeps the first messages.
func (c *crowd) problem(counter *int, msg string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if counter != nil {
		*counter++
	}
	if len(c.errs) < 10 {
		c.errs = append(c.errs, msg)
	}
}

func (c *crowd) report(event string, round int, elapsed time.Duration) report {
	c.mu.Lock()
	defer c.mu.Unlock()
	open := len(c.conns) - c.failed - c.lost
	return report{
		Event: event, Open: open, Failed: c.failed, Lost: c.lost, Round: round,
		Echoes: c.echoes.Load(), BytesChecked: c.bytes.Load(), Seconds: elapsed.Seconds(),
		Errors: append([]string(nil), c.errs...),
	}
}
