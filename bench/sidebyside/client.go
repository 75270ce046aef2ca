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
	TLS  bool
}

// ioTimeout bounds every single connect, handshake, read and write of the load generator.
const ioTimeout = 10 * time.Second

// clientTLS makes every TLS row do the same work whatever the proxy: a full handshake each
// time (no session cache, no tickets), ECDHE and the certificate on P-256. The chain is not
// verified (the handshake signature still is), so the client spends no time on X.509.
var clientTLS = &tls.Config{
	InsecureSkipVerify:     true,
	SessionTicketsDisabled: true,
	ClientSessionCache:     nil,
	CurvePreferences:       []tls.CurveID{tls.CurveP256},
}

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
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: sourceIP(nextSource.Add(1))}, Timeout: ioTimeout}
	c, err := d.DialContext(ctx, "tcp", t.Addr)
	if err != nil {
		return nil, err
	}
	if !t.TLS {
		return c, nil
	}
	tc := tls.Client(c, clientTLS)
	hctx, cancel := context.WithTimeout(ctx, ioTimeout)
	defer cancel()
	if err := tc.HandshakeContext(hctx); err != nil {
		c.Close()
		return nil, fmt.Errorf("tls handshake with %s: %w", t.Addr, err)
	}
	return tc, nil
}

// echoOnce opens a connection to t, has msg echoed (after the echo mode byte) and closes it:
// the readiness check, and one unit of the connection-rate runs.
func echoOnce(ctx context.Context, t target, msg []byte) error {
	c, err := dial(ctx, t)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := echo(c, append([]byte{modeEcho}, msg...), len(msg)); err != nil {
		return fmt.Errorf("echo via %s: %w", t.Addr, err)
	}
	return nil
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
