package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"sync/atomic"
	"time"
)

// target is where the load generator connects: a proxy listener or, for the direct runs, a
// backend.
type target struct {
	Addr string
	TLS  *tlsProfile // nil: plain TCP
}

// with returns t speaking TLS as profile p.
func (t target) with(p *tlsProfile) target {
	t.TLS = p
	return t
}

// ioTimeout bounds every single connect, handshake, read and write of the load generator.
const ioTimeout = 10 * time.Second

// tlsProfile is how the load generator's TLS client behaves. The chain is never verified (the
// handshake signature still is), so the client spends no time on X.509.
type tlsProfile struct {
	Name  string // for the report
	About string
	cfg   *tls.Config // shared by every connection of the profile
}

var (
	// profileBrowser is what the targets are judged on: Go's default client configuration, which
	// offers X25519MLKEM768 (then X25519, P-256, ...) as Chrome and Firefox do, and a session
	// cache, so it offers PSK resumption and the server issues tickets, as to every browser. Each
	// connection is a new visitor, though: the cache never has a session, so every handshake is
	// full.
	profileBrowser = &tlsProfile{Name: "browser-like", cfg: &tls.Config{InsecureSkipVerify: true, ClientSessionCache: firstVisits{}},
		About: "Go's default client: X25519MLKEM768 offered (tether, in Go, negotiates it; OpenSSL 3.0 X25519), tickets accepted, no session to resume"}
	// profileResume is profileBrowser coming back: one session cache for all connections to an
	// address, so every connection after the first resumes (TLS 1.3 PSK with (EC)DHE, no
	// certificate signature).
	profileResume = &tlsProfile{Name: "browser-like, resuming", cfg: &tls.Config{InsecureSkipVerify: true, ClientSessionCache: tls.NewLRUClientSessionCache(64)},
		About: "as browser-like, keeping the tickets it gets: every handshake after the first resumes"}
	// profileP256 is the classical profile of the earlier reports: ECDHE on P-256 only, tickets
	// refused (so the server issues none). No browser resembles it.
	profileP256 = &tlsProfile{Name: "pinned P-256", cfg: &tls.Config{InsecureSkipVerify: true, SessionTicketsDisabled: true, CurvePreferences: []tls.CurveID{tls.CurveP256}},
		About: "ECDHE on P-256 only, tickets refused: the profile of the reports before issue 11"}
)

// firstVisits is a tls.ClientSessionCache that never holds a session: the client offers
// resumption and takes the server's tickets like a browser, but each connection is someone's
// first.
type firstVisits struct{}

func (firstVisits) Get(string) (*tls.ClientSessionState, bool) { return nil, false }
func (firstVisits) Put(string, *tls.ClientSessionState)        {}

// sourceCount is how many loopback client addresses connections rotate over: distinct
// clients for the hash, and 1000x the ephemeral ports, so that connection-rate runs never run
// out of (source, destination) pairs while earlier connections sit in TIME_WAIT.
const sourceCount = 1000

// sourceIP returns the i-th client address: 127.1.0.1 ... 127.1.3.232, then again.
func sourceIP(i uint32) net.IP {
	i %= sourceCount
	return net.IPv4(127, 1, byte(i/250), byte(i%250+1))
}

var nextSource atomic.Uint32

// dial connects to t from the next client address and, for TLS, completes the handshake.
func dial(ctx context.Context, t target) (net.Conn, error) {
	return dialFrom(ctx, t, sourceIP(nextSource.Add(1)))
}

// dialFrom connects to t from the address src and, for TLS, completes the handshake.
func dialFrom(ctx context.Context, t target, src net.IP) (net.Conn, error) {
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: src}, Timeout: ioTimeout}
	c, err := d.DialContext(ctx, "tcp", t.Addr)
	if err != nil {
		return nil, err
	}
	if t.TLS == nil {
		return c, nil
	}
	tc := tls.Client(c, t.TLS.cfg)
	hctx, cancel := context.WithTimeout(ctx, ioTimeout)
	defer cancel()
	if err := tc.HandshakeContext(hctx); err != nil {
		c.Close()
		return nil, fmt.Errorf("tls handshake with %s: %w", t.Addr, err)
	}
	return tc, nil
}

// resumed reports whether c is a TLS connection that resumed a session.
func resumed(c net.Conn) bool {
	tc, ok := c.(*tls.Conn)
	return ok && tc.ConnectionState().DidResume
}

// echoOnce opens a connection to t, has msg echoed (after the echo mode byte) and closes it:
// the readiness check, and one unit of the connection-rate runs. It reports whether the TLS
// session was resumed.
func echoOnce(ctx context.Context, t target, msg []byte) (resumedTLS bool, err error) {
	c, err := dial(ctx, t)
	if err != nil {
		return false, err
	}
	defer c.Close()
	if err := echo(c, append([]byte{modeEcho}, msg...), len(msg)); err != nil {
		return false, fmt.Errorf("echo via %s: %w", t.Addr, err)
	}
	return resumed(c), nil
}

// echo writes out to c and reads n bytes back, within ioTimeout.
func echo(c net.Conn, out []byte, n int) error {
	if err := c.SetDeadline(time.Now().Add(ioTimeout)); err != nil {
		return err
	}
	if _, err := c.Write(out); err != nil {
		return err
	}
	buf := make([]byte, n)
	if _, err := io.ReadFull(c, buf); err != nil {
		return err
	}
	return c.SetDeadline(time.Time{})
}

// sleepCtx sleeps until t or until ctx is done.
func sleepUntil(ctx context.Context, t time.Time) error {
	timer := time.NewTimer(time.Until(t))
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-timer.C:
		return nil
	}
}
