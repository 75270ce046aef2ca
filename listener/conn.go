package listener

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/tether-proxy/tether/conf"
	"github.com/tether-proxy/tether/preamble"
	"github.com/tether-proxy/tether/proxyproto"
	"github.com/tether-proxy/tether/splice"
	"github.com/tether-proxy/tether/tlsterm"
	"github.com/tether-proxy/tether/upstream"
)

// aLongTimeAgo is a deadline in the past: setting it makes blocked I/O return at once.
var aLongTimeAgo = time.Unix(1, 0)

// serveConn runs the pipeline for one accepted connection and hands the tunnel to the engine;
// the session's finish logs and releases everything when the tunnel ends. On the event-loop
// engine this goroutine ends there: an idle tunnel holds none.
func (l *listener) serveConn(raw *net.TCPConn) {
	c := setup{ss: l.newSession(raw), raw: raw, conn: raw}
	if r := c.pipeline(); r != nil {
		c.refuse(r)
		return
	}
	c.startTunnel()
}

// pipeline runs the steps of connection setup in order, each in the package that owns it; the
// first refusal ends it.
func (c *setup) pipeline() *refusal {
	if r := c.admit(); r != nil {
		return r
	}
	if r := c.proxyIn(); r != nil {
		return r
	}
	if r := c.limitPerClient(); r != nil {
		return r
	}
	if r := c.terminateTLS(); r != nil {
		return r
	}
	if r := c.readHead(); r != nil {
		return r
	}
	if r := c.chooseAndDial(); r != nil {
		return r
	}
	if r := c.preface(); r != nil {
		return r
	}
	return c.awaitResponse()
}

// setup is what the pipeline of one connection holds until the tunnel starts (or the
// connection is refused). It lives on the pipeline's stack: a tunnel keeps only its session.
type setup struct {
	ss       *session
	raw      *net.TCPConn
	conn     net.Conn // raw, or the TLS connection over it
	tlsState *tls.ConnectionState
	ctx      context.Context // ends on a drain, a stop, or the backend's drain deadline
	stop     func() bool     // unregisters the drain's interruption of blocked setup I/O
	bufp     *[]byte         // the head buffer, borrowed from the route while the head matters
	head     preamble.Head
	replay   []byte // bytes to replay to the backend: the head (rewritten with forwarded_headers)
	ws       bool   // the tunnel may follow WebSocket frames (tracksFrames)
	backend  net.Conn
}

// refusal is why a connection is not tunnelled: what to count, log and answer.
type refusal struct {
	reason    string           // tether_connections_refused_total's reason and the log line's
	uncounted bool             // the client left or a drain interrupted: not a refusal, logged at debug
	level     slog.Level       // of the log line
	answer    *preamble.Reject // the HTTP answer, for a client whose request head was read
	reset     bool             // close with a reset: refused before a byte was read
	err       error
	attrs     []any
}

// refuse is the pipeline's one exit: it answers, counts, logs and releases.
func (c *setup) refuse(r *refusal) {
	s, ss := c.ss.l.srv, c.ss
	if c.stop != nil {
		c.stop()
	}
	c.releaseHead()
	if c.backend != nil {
		c.backend.Close()
	}
	attrs := r.attrs
	if r.err != nil {
		attrs = append(attrs, "err", r.err)
	}
	switch {
	case !r.uncounted:
		s.reject(ss, r.level, r.reason, attrs...)
	case s.log.Enabled(context.Background(), slog.LevelDebug):
		ss.logger().Debug("connection closed", append([]any{"reason", r.reason}, attrs...)...)
	}
	switch {
	case r.answer != nil:
		answer(c.conn, r.answer)
	case r.reset:
		c.raw.SetLinger(0)
		c.raw.Close()
	default:
		c.conn.Close()
	}
	ss.cleanup()
}

// admit applies the process's and the listener's connection caps, before any work.
func (c *setup) admit() *refusal {
	ss := c.ss
	if reason := ss.l.admit(ss.rt); reason != "" {
		return &refusal{reason: reason, level: slog.LevelWarn, reset: true}
	}
	ss.admitted = true
	ctx, cs := ss.l.srv.track()
	ss.cs, c.ctx = cs, ctx
	// Until forwarding starts, a drain or stop interrupts whichever step is blocked.
	raw := c.raw
	c.stop = context.AfterFunc(ctx, func() { raw.SetDeadline(aLongTimeAgo) })
	return nil
}

// proxyIn reads the PROXY header of a trusted load balancer: its source is the client.
func (c *setup) proxyIn() *refusal {
	pi := c.ss.rt.cfg.ProxyIn
	if pi == nil {
		return nil
	}
	if err := readProxyHeader(c.raw, pi, &c.ss.cl); err != nil {
		return &refusal{reason: "proxy header", level: slog.LevelInfo, err: err}
	}
	return nil
}

// limitPerClient applies max_conns_per_client to the client (known after the PROXY header).
func (c *setup) limitPerClient() *refusal {
	ss := c.ss
	max := ss.rt.cfg.MaxConnsPerClient
	if max <= 0 {
		return nil
	}
	if !ss.l.clients.acquire(ss.cl.ip, max) {
		return &refusal{reason: "max_conns_per_client", level: slog.LevelInfo, reset: true, attrs: []any{"max", max}}
	}
	ss.perClient = true
	return nil
}

// terminateTLS runs the TLS handshake on wss listeners (see handshakeTLS).
func (c *setup) terminateTLS() *refusal {
	ss := c.ss
	if ss.rt.tls == nil {
		return nil
	}
	tc, reason, err := ss.l.srv.handshakeTLS(ss.rt, c.raw)
	if err != nil {
		return &refusal{reason: reason, level: slog.LevelInfo, err: err}
	}
	st := tc.ConnectionState()
	c.conn, c.tlsState = tc, &st
	ss.sni = st.ServerName
	return nil
}

// readHead reads the HTTP request head, bounded in size and time, on listeners that read one.
// Everything read is replayed to the backend.
func (c *setup) readHead() *refusal {
	rt := c.ss.rt
	if !rt.readsHead() {
		return nil
	}
	c.bufp = rt.bufs.Get().(*[]byte)
	c.conn.SetReadDeadline(time.Now().Add(rt.cfg.Timeouts.Preamble))
	n, err := preamble.Read(c.conn, *c.bufp, &c.head, rt.mode)
	if err != nil {
		return headRefusal(err)
	}
	c.conn.SetReadDeadline(time.Time{})
	c.replay = (*c.bufp)[:n]
	c.ws = tracksFrames(&c.head, n)
	if f := rt.cfg.Forwarded; f != nil {
		cl := &c.ss.cl
		peer := cl.ip
		if cl.via != nil {
			peer, _ = netip.AddrFromSlice(cl.via.IP)
		}
		rewritten := appendForwarded(make([]byte, 0, n+128), &c.head, f, peer, cl.ip, c.tlsState != nil)
		c.replay = append(rewritten, c.replay[c.head.Len():]...)
	}
	return nil
}

// headRefusal turns a failed head read into its refusal: a malformed head is answered with
// its HTTP error; a client that left or broke the connection gets no answer and is no refusal.
func headRefusal(err error) *refusal {
	var rej *preamble.Reject
	if errors.As(err, &rej) {
		return &refusal{reason: "bad request head", level: slog.LevelInfo, answer: rej,
			attrs: []any{"status", rej.Status, "err", rej.Reason}}
	}
	reason := "read failed"
	if errors.Is(err, io.EOF) {
		reason = "client closed before request"
	}
	return &refusal{reason: reason, uncounted: true, err: err}
}

// chooseAndDial chooses the backend by hashing the client address exactly as nginx spells
// $remote_addr (an IPv4 client on a dual-stack socket is "::ffff:a.b.c.d"), or the configured
// hash_key when the request has it, then dials it, moving on to the next peer of the hash when
// a connect fails.
func (c *setup) chooseAndDial() *refusal {
	ss, rt := c.ss, c.ss.rt
	var keyBuf [64]byte
	key := rt.pool.AppendKey(keyBuf[:0], ss.cl.ip, ss.cl.ip.Is4In6())
	if rt.cfg.HashKey.Kind != conf.KeyRemoteAddr && rt.readsHead() {
		if k := stickyKey(rt.cfg.HashKey, &c.head); k != nil {
			key = k
		}
	}
	dialStart := time.Now()
	backend, peer, err := rt.pool.Connect(c.ctx, key, rt.dialer, ss)
	rt.metrics.connect.UpdateDuration(dialStart)
	if err != nil {
		r := &refusal{reason: "no backend", level: slog.LevelWarn, err: err, attrs: []any{"key", string(key)}}
		answer := badGateway
		var local *upstream.LocalError
		if errors.As(err, &local) { // tether's own shortage: no backend is blamed or changed
			r.reason, answer = local.Reason, proxyOverloaded
		}
		if rt.readsHead() {
			r.answer = answer
		}
		return r
	}
	c.backend, ss.peer = backend, peer
	peer.CancelOnDrain(ss.cs.cancel) // a drain deadline on this backend ends the tunnel
	return nil
}

// preface writes the PROXY header (if configured) and the replayed head, in one write.
func (c *setup) preface() *refusal {
	ss := c.ss
	err := sendPreface(c.backend, ss.rt, &ss.cl, c.tlsState, c.replay)
	ss.replayed = int64(len(c.replay))
	c.releaseHead()
	if err != nil {
		return c.backendFailed("backend write failed", nil, err)
	}
	return nil
}

// awaitResponse applies the response timeout: the backend must start answering the head in
// time.
func (c *setup) awaitResponse() *refusal {
	rt := c.ss.rt
	wait := rt.cfg.Timeouts.Response
	if wait <= 0 || !rt.readsHead() {
		return nil
	}
	if err := awaitResponse(c.ctx, c.backend, wait); err != nil {
		return c.backendFailed("response timeout", gatewayTimeout, err, "timeout", wait.String())
	}
	return nil
}

// backendFailed is the refusal of a backend that failed after the connect: held against it
// (max_fails), unless a drain or stop interrupted, which is nobody's fault.
func (c *setup) backendFailed(reason string, answer *preamble.Reject, err error, attrs ...any) *refusal {
	if c.ctx.Err() != nil {
		return &refusal{reason: "interrupted by a drain", uncounted: true, err: err}
	}
	peer := c.ss.peer
	fails := peer.Fail()
	attrs = append(attrs, "backend", peer.String(), "server", peer.Server.Name, "fails", fails,
		"disabled", peer.Server.MaxFails > 0 && fails >= peer.Server.MaxFails)
	return &refusal{reason: reason, level: slog.LevelWarn, answer: answer, err: err, attrs: attrs}
}

// releaseHead returns the head buffer to the route's pool.
func (c *setup) releaseHead() {
	if c.bufp != nil {
		c.ss.rt.bufs.Put(c.bufp)
		c.bufp = nil
	}
}

// startTunnel hands both connections to the engine, which forwards both ways until both sides
// are done, then closes them and calls the session's finish.
func (c *setup) startTunnel() {
	ss, s := c.ss, c.ss.l.srv
	c.stop()
	if s.log.Enabled(context.Background(), slog.LevelDebug) {
		ss.logger().Debug("tunnel opened", "sni", ss.sni, "backend", ss.peer.String(), "server", ss.peer.Server.Name)
	}
	s.engine.Start(c.ctx, c.conn, c.backend, splice.Options{
		Idle:       ss.rt.cfg.Timeouts.Idle,
		HalfClose:  ss.rt.cfg.Timeouts.HalfClose,
		WebSocket:  c.ws,
		CloseGrace: ss.rt.cfg.Timeouts.CloseGrace,
		CloseWait:  closeWait,
	}, ss.finish)
}

// closeWait bounds how long a polite WebSocket ending waits for the peers' close frames once
// tether sent its own (RFC 6455 section 7.1.1: the server closes TCP first).
const closeWait = 2 * time.Second

// tracksFrames says whether the tunnel may follow WebSocket frames: the client asked to upgrade
// (RFC 6455 section 4.1: Upgrade: websocket) and sent nothing after its head, so the tunnel's
// first byte from the client is the first byte of a frame. Whether it did upgrade, the backend's
// 101 tells the tunnel.
func tracksFrames(h *preamble.Head, read int) bool {
	return read == h.Len() && h.HasToken("Upgrade", "websocket")
}

// handshakeTLS terminates TLS on raw within the handshake timeout. The connection first waits
// for its ClientHello without holding anything but its socket, then takes one of the
// max_handshakes slots for the handshake proper: connections that never say hello cannot lock
// the ready ones out. On failure it returns the refusal's reason.
func (s *Server) handshakeTLS(rt *route, raw *net.TCPConn) (tc *tls.Conn, reason string, err error) {
	timeout := rt.cfg.Timeouts.Handshake
	if timeout > 0 {
		raw.SetReadDeadline(time.Now().Add(timeout))
	}
	waitStart := time.Now()
	if err := tlsterm.AwaitClientHello(raw); err != nil {
		return nil, "tls handshake", err
	}
	slots := *s.handshake.Load()
	select {
	case slots <- struct{}{}:
	default:
		return nil, "max_handshakes", errors.New("too many TLS handshakes in progress")
	}
	defer func() { <-slots }()
	if timeout > 0 {
		timeout = max(timeout-time.Since(waitStart), time.Millisecond)
	}
	tc = splice.TLSServer(raw, rt.tls.Config())
	hsStart := time.Now()
	err = tlsterm.Handshake(tc, timeout)
	rt.metrics.handshake.UpdateDuration(hsStart)
	if err != nil {
		return nil, "tls handshake", err
	}
	return tc, "", nil
}

// client is who a connection is from: the socket's peer, or what a trusted PROXY header says.
type client struct {
	addr  *net.TCPAddr // the client
	local *net.TCPAddr // the address it connected to
	ip    netip.Addr   // addr's IP, spelled as the socket family has it (4-in-6 on dual-stack)
	via   *net.TCPAddr // the load balancer that sent a PROXY header, or nil
}

// readProxyHeader applies a listener's proxy_protocol_in: a trusted peer must send a PROXY
// header and its source address becomes the client; an untrusted peer that sends one is
// refused; any other connection is served as itself.
func readProxyHeader(raw *net.TCPConn, pi *conf.ProxyIn, cl *client) error {
	raw.SetReadDeadline(time.Now().Add(pi.Timeout))
	defer raw.SetReadDeadline(time.Time{})
	peer := cl.ip.Unmap()
	trusted := false
	for _, p := range pi.Trusted {
		if p.Contains(peer) {
			trusted = true
			break
		}
	}
	if !trusted {
		has, err := proxyproto.HasSignature(raw)
		if err != nil {
			return fmt.Errorf("untrusted peer %s: %w", peer, err)
		}
		if has {
			return fmt.Errorf("PROXY header from untrusted peer %s", peer)
		}
		return nil
	}
	h, err := proxyproto.Read(raw)
	if err != nil {
		return fmt.Errorf("trusted peer %s: %w", peer, err)
	}
	if !h.HasClient() {
		return nil // PROXY UNKNOWN / v2 LOCAL (health checks): the peer speaks for itself
	}
	cl.via, cl.addr, cl.local = cl.addr, net.TCPAddrFromAddrPort(h.Source), net.TCPAddrFromAddrPort(h.Dest)
	cl.ip = h.Source.Addr() // a v4 header's address is dotted, whatever the socket, as nginx spells it
	return nil
}

// sendPreface writes the PROXY header and the replayed bytes to the backend in one writev,
// bounded by the connect timeout.
func sendPreface(backend net.Conn, rt *route, cl *client, st *tls.ConnectionState, replay []byte) error {
	var info *proxyproto.TLSInfo
	if st != nil {
		info = &proxyproto.TLSInfo{ServerName: st.ServerName, Version: st.Version, ClientVerified: len(st.VerifiedChains) > 0}
	}
	hb := proxyHeaderBufs.Get().(*[]byte)
	defer proxyHeaderBufs.Put(hb)
	hdr, err := proxyproto.AppendHeader((*hb)[:0], rt.pool.ProxyProtocol, cl.addr, cl.local, info)
	if err != nil {
		return err
	}
	if cap(hdr) <= 4096 {
		*hb = hdr[:0] // keep a buffer that had to grow for a long server name, within reason
	}
	if len(hdr) == 0 && len(replay) == 0 {
		return nil
	}
	backend.SetWriteDeadline(time.Now().Add(rt.cfg.Timeouts.Connect))
	bufs := net.Buffers{hdr, replay}
	if _, err := bufs.WriteTo(backend); err != nil {
		return err
	}
	return backend.SetWriteDeadline(time.Time{})
}

// proxyHeaderBufs hold the PROXY header sent to a backend while sendPreface writes it, so the
// per-connection header costs no allocation.
var proxyHeaderBufs = sync.Pool{New: func() any { b := make([]byte, 0, 2*proxyproto.MaxV1Len); return &b }}

// badGateway answers a parsed request when no backend could be reached, gatewayTimeout one that
// the backend did not start answering within the response timeout, proxyOverloaded one that
// tether could not dial for want of its own resources (file descriptors, memory, local ports).
var (
	badGateway      = &preamble.Reject{Status: 502, Reason: "no backend available"}
	gatewayTimeout  = &preamble.Reject{Status: 504, Reason: "backend response timeout"}
	proxyOverloaded = &preamble.Reject{Status: 503, Reason: "proxy out of resources"}
)

// Bounds on the lingering close after a refusal (nginx's lingering_close does the same): keep
// reading what the client still sends for a moment, so the kernel does not answer it with a
// reset that could destroy the response before the client reads it.
const (
	lingerTime  = time.Second
	lingerBytes = 64 << 10
)

// answer writes a refusal's HTTP answer, then closes with a lingering close.
func answer(client net.Conn, rej *preamble.Reject) {
	defer client.Close()
	client.SetWriteDeadline(time.Now().Add(lingerTime))
	if _, err := client.Write(rej.Response()); err != nil {
		return
	}
	if cw, ok := client.(interface{ CloseWrite() error }); ok {
		cw.CloseWrite()
	}
	client.SetReadDeadline(time.Now().Add(lingerTime))
	io.CopyN(io.Discard, client, lingerBytes)
}

// closeReason names why a tunnel ended for the access log.
func closeReason(res splice.Result) string {
	if res.Reason == splice.Aborted && errors.Is(res.Err, errDrained) {
		return "drain"
	}
	if res.Reason == splice.Aborted && errors.Is(res.Err, upstream.ErrDrained) {
		return "backend drained"
	}
	return res.Reason.String()
}
