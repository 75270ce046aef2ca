package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"slices"
	"sync"
	"time"

	"github.com/tether-proxy/tether/internal/websocket"
)

// stormConfig is the shape of a reconnect storm.
type stormConfig struct {
	Tunnels  int  // WSS tunnels, one client address each
	InFlight int  // connection attempts at once, while establishing and while reconnecting
	Resume   bool // clients keep their TLS sessions and resume them on reconnecting
}

// stormRetries is how often a client retries a failed attempt before the run fails.
const stormRetries = 5

// stormSource returns the address of storm client i: 127.2.0.1, ..., 127.2.0.250, 127.2.1.1,
// ... (62,500 before it repeats); apart from the connection-rate clients' 127.1.x.y.
func stormSource(i int) net.IP {
	i %= 250 * 250
	return net.IPv4(127, 2, byte(i/250), byte(i%250+1))
}

// stormClient is one browser tab holding a WSS tunnel.
type stormClient struct {
	src  net.IP
	tls  *tlsProfile
	raw  net.Conn // the TCP connection under the tunnel: closed abruptly by the storm
	ws   *websocket.Conn
	took time.Duration // the reconnect attempt that succeeded, from its start to its echo
	back time.Time     // when the tunnel was back (its echo arrived)
	used bool          // the reconnect resumed its TLS session
	errs int           // failed attempts
}

// connect opens the client's tunnel to t: TCP from its own address, TLS, the WebSocket opening
// handshake (through to a backend), the backend's hello, and one echoed message.
func (c *stormClient) connect(ctx context.Context, t target) error {
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: c.src}, Timeout: ioTimeout}
	raw, err := d.DialContext(ctx, "tcp", t.Addr)
	if err != nil {
		return err
	}
	ok := false
	defer func() {
		if !ok {
			raw.Close()
		}
	}()
	if err := raw.SetDeadline(time.Now().Add(ioTimeout)); err != nil {
		return err
	}
	tc := tls.Client(raw, c.tls.cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		return fmt.Errorf("tls handshake with %s: %w", t.Addr, err)
	}
	ws, _, err := websocket.Client(tc, "wss://localhost/ws", nil)
	if err != nil {
		return err
	}
	if _, _, err := ws.ReadMessage(); err != nil { // the backend's hello
		return fmt.Errorf("websocket hello: %w", err)
	}
	if err := ws.WriteMessage(websocket.OpText, []byte("ping")); err != nil {
		return fmt.Errorf("websocket write: %w", err)
	}
	if _, p, err := ws.ReadMessage(); err != nil || string(p) != "ping" {
		return fmt.Errorf("websocket echo: %q, %v", p, err)
	}
	if err := raw.SetDeadline(time.Time{}); err != nil {
		return err
	}
	ok = true
	c.raw, c.ws, c.used = raw, ws, tc.ConnectionState().DidResume
	return nil
}

// reconnect connects with up to stormRetries retries, 50 ms apart, and times the attempt that
// succeeded.
func (c *stormClient) reconnect(ctx context.Context, t target) error {
	for {
		start := time.Now()
		err := c.connect(ctx, t)
		if err == nil {
			c.back = time.Now()
			c.took = c.back.Sub(start)
			return nil
		}
		c.errs++
		if c.errs > stormRetries || ctx.Err() != nil {
			return fmt.Errorf("client %s: %d attempts failed, last: %w", c.src, c.errs, err)
		}
		if err := sleepUntil(ctx, time.Now().Add(50*time.Millisecond)); err != nil {
			return err
		}
	}
}

// close drops the tunnel as a lost network would: the TCP connection closes, no WebSocket or
// TLS goodbye.
func (c *stormClient) close() {
	if c.raw != nil {
		c.raw.Close()
		c.raw, c.ws = nil, nil
	}
}

// newStormClients makes n clients, each with its own address and, with resume, its own session
// cache (a browser's), else the browser-like profile that never resumes.
func newStormClients(n int, resume bool) []*stormClient {
	cs := make([]*stormClient, n)
	for i := range cs {
		p := profileBrowser
		if resume {
			cfg := profileResume.cfg.Clone()
			cfg.ClientSessionCache = tls.NewLRUClientSessionCache(1)
			p = &tlsProfile{Name: profileResume.Name, cfg: cfg}
		}
		cs[i] = &stormClient{src: stormSource(i), tls: p}
	}
	return cs
}

// forClients runs f for every client, inFlight at a time, and returns the errors joined (at
// most 5 of them, and how many there were).
func forClients(cs []*stormClient, inFlight int, f func(c *stormClient) error) error {
	slots := make(chan struct{}, max(1, inFlight))
	var mu sync.Mutex
	var errs []error
	failed := 0
	var wg sync.WaitGroup
	for _, c := range cs {
		slots <- struct{}{}
		wg.Go(func() {
			defer func() { <-slots }()
			if err := f(c); err != nil {
				mu.Lock()
				failed++
				if len(errs) < 5 {
					errs = append(errs, err)
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if failed > 0 {
		return fmt.Errorf("%d of %d clients failed: %w", failed, len(cs), errors.Join(errs...))
	}
	return nil
}

// runStorm measures a reconnect storm through t: sc.Tunnels WSS tunnels are established (not
// measured), then all their TCP connections close at once and every client reconnects at once,
// sc.InFlight attempts at a time. The window runs from the first close until the last client
// has its tunnel back and its echo: mStormSecs. Each client's successful attempt (TCP, TLS,
// WebSocket handshake through to the backend, hello, echo; without the wait for a slot) gives
// mStormP50 and mStormP99; the time from the first close until a client is back gives
// mOutageP50 and mOutageP99; the proxy's CPU over the window divided by the tunnels gives
// mCPUPerReconnect.
func runStorm(ctx context.Context, t target, sc stormConfig, pr probe) (metrics, error) {
	cs := newStormClients(sc.Tunnels, sc.Resume)
	defer func() {
		for _, c := range cs {
			c.close()
		}
	}()
	if err := forClients(cs, sc.InFlight, func(c *stormClient) error { return c.reconnect(ctx, t) }); err != nil {
		return nil, fmt.Errorf("establish %d tunnels: %w", sc.Tunnels, err)
	}
	for _, c := range cs {
		c.errs = 0 // count the storm's failed attempts only
	}
	// Let the establishing settle (the proxy's and the backends' last writes, TIME_WAITs) so
	// that the window holds the storm alone.
	if err := sleepUntil(ctx, time.Now().Add(200*time.Millisecond)); err != nil {
		return nil, err
	}
	s0 := pr.open()
	for _, c := range cs {
		c.close()
	}
	if err := forClients(cs, sc.InFlight, func(c *stormClient) error { return c.reconnect(ctx, t) }); err != nil {
		return nil, fmt.Errorf("reconnect storm: %w", err)
	}
	s1 := pr.take()
	return stormMetrics(s0, s1, cs), nil
}

// stormMetrics computes a storm run's figures from the snapshots around its window and its
// clients after reconnecting.
func stormMetrics(s0, s1 snapshot, cs []*stormClient) metrics {
	m := metrics{}
	usage(s0, s1, m)
	wall := s1.at.Sub(s0.at)
	took := make([]time.Duration, len(cs))
	outage := make([]time.Duration, len(cs))
	errs, resumes := 0, 0
	for i, c := range cs {
		took[i] = c.took
		outage[i] = c.back.Sub(s0.at)
		errs += c.errs
		if c.used {
			resumes++
		}
	}
	slices.Sort(took)
	slices.Sort(outage)
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	m[mStormSecs] = wall.Seconds()
	m[mStormP50] = ms(percentile(took, 0.50))
	m[mStormP99] = ms(percentile(took, 0.99))
	m[mOutageP50] = percentile(outage, 0.50).Seconds()
	m[mOutageP99] = percentile(outage, 0.99).Seconds()
	// mCPU is in cores over the window: CPU seconds = cores × wall.
	m[mCPUPerReconnect] = m[mCPU] * wall.Seconds() * 1000 / float64(len(cs))
	m[mRetries] = float64(errs)
	m[mResumed] = 100 * float64(resumes) / float64(len(cs))
	return m
}
