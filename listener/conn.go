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
	"time"

	proxyproto "github.com/pires/go-proxyproto"

	"github.com/tether-proxy/tether/conf"
	"github.com/tether-proxy/tether/preamble"
	"github.com/tether-proxy/tether/proxyin"
	"github.com/tether-proxy/tether/splice"
	"github.com/tether-proxy/tether/tlsterm"
	"github.com/tether-proxy/tether/upstream"
)

// aLongTimeAgo is a deadline in the past: setting it makes blocked I/O return at once.
var aLongTimeAgo = time.Unix(1, 0)

// serveConn runs the pipeline for one accepted connection, top to bottom, and hands the tunnel
// to the engine; the session's finish logs and releases everything when the tunnel ends. On
// the event-loop engine this goroutine ends there: an idle tunnel holds none.
func (l *listener) serveConn(raw *net.TCPConn) {
	s := l.srv
	rt := l.rt.Load()
	ss := &session{l: l, rt: rt, start: time.Now()}
	ss.cl = client{addr: raw.RemoteAddr().(*net.TCPAddr), local: raw.LocalAddr().(*net.TCPAddr)}
	ss.cl.ip = ss.cl.addr.AddrPort().Addr()
	cl := &ss.cl
	handedOff := false
	defer func() {
		if !handedOff {
			ss.cleanup()
		}
	}()
	rt.metrics.accepted.Inc()

	// 0. Limits: the process's and the listener's connection caps, before any work.
	if reason := l.admit(rt); reason != "" {
		s.reject(ss, slog.LevelWarn, reason)
		raw.SetLinger(0)
		raw.Close()
		return
	}
	ss.admitted = true
	ctx, cs := s.track()
	ss.cs = cs

	// Until forwarding starts, a drain or stop interrupts whichever step is blocked.
	stopped := context.AfterFunc(ctx, func() { raw.SetDeadline(aLongTimeAgo) })
	fail := func(reason string, err error) {
		stopped()
		s.reject(ss, slog.LevelInfo, reason, "err", err)
		raw.Close()
	}

	// 1. PROXY protocol from trusted load balancers: the header's source is the client.
	if pi := rt.cfg.ProxyIn; pi != nil {
		if err := readProxyHeader(raw, pi, cl); err != nil {
			fail("proxy header", err)
			return
		}
	}
	if rt.cfg.MaxConnsPerClient > 0 {
		if !l.clients.acquire(cl.ip, rt.cfg.MaxConnsPerClient) {
			stopped()
			s.reject(ss, slog.LevelInfo, "max_conns_per_client", "max", rt.cfg.MaxConnsPerClient)
			raw.SetLinger(0)
			raw.Close()
			return
		}
		ss.perClient = true
	}

	// 2. TLS termination on wss listeners, bounded in time and in concurrent handshakes.
	conn := net.Conn(raw)
	var tlsState *tls.ConnectionState
	if rt.tls != nil {
		tc, reason, err := s.handshakeTLS(rt, raw)
		if err != nil {
			fail(reason, err)
			return
		}
		st := tc.ConnectionState()
		conn, tlsState = tc, &st
		ss.sni = st.ServerName
	}

	// 3. Read the HTTP request head, bounded in size and time. Everything read is replayed.
	var bufp *[]byte
	var replay []byte
	var head preamble.Head
	if rt.mode != 0 {
		bufp = rt.bufs.Get().(*[]byte)
		conn.SetReadDeadline(time.Now().Add(rt.cfg.Timeouts.Preamble))
		n, err := preamble.Read(conn, *bufp, &head, rt.mode)
		if err != nil {
			rt.bufs.Put(bufp)
			stopped()
			s.refuse(ss, rt, conn, err)
			return
		}
		conn.SetReadDeadline(time.Time{})
		replay = (*bufp)[:n]
		if f := rt.cfg.Forwarded; f != nil {
			peer := cl.ip
			if cl.via != nil {
				peer, _ = netip.AddrFromSlice(cl.via.IP)
			}
			rewritten := appendForwarded(make([]byte, 0, n+128), &head, f, peer, cl.ip, tlsState != nil)
			replay = append(rewritten, replay[head.Len():]...)
		}
	}

	// 4. Choose the backend by hashing the client address exactly as nginx spells
	// $remote_addr (an IPv4 client on a dual-stack socket is "::ffff:a.b.c.d"), or the
	// configured hash_key when the request has it, then dial it, moving on to the next peer of
	// the hash when a connect fails.
	var keyBuf [64]byte
	key := rt.pool.AppendKey(keyBuf[:0], cl.ip, cl.ip.Is4In6())
	if rt.cfg.HashKey.Kind != conf.KeyRemoteAddr && rt.mode != 0 {
		if k := stickyKey(rt.cfg.HashKey, &head); k != nil {
			key = k
		}
	}
	dialStart := time.Now()
	backend, peer, err := rt.pool.Connect(ctx, key, rt.dialer, ss)
	rt.metrics.connect.UpdateDuration(dialStart)
	if err != nil {
		if bufp != nil {
			rt.bufs.Put(bufp)
		}
		stopped()
		s.reject(ss, slog.LevelWarn, "no backend", "key", string(key), "err", err)
		if rt.mode != 0 {
			s.refuse(ss, rt, conn, badGateway)
		} else {
			conn.Close()
		}
		return
	}
	ss.peer = peer
	peer.CancelOnDrain(cs.cancel) // a drain deadline on this backend ends the tunnel

	// 5. PROXY header (if configured) and the replayed head, in one write.
	err = sendPreface(backend, rt, cl, tlsState, replay)
	ss.replayed = int64(len(replay))
	if bufp != nil {
		rt.bufs.Put(bufp)
	}
	if err != nil {
		stopped()
		backend.Close()
		conn.Close()
		if ctx.Err() != nil { // a drain or stop, not the backend's fault
			return
		}
		fails := peer.Fail()
		s.reject(ss, slog.LevelWarn, "backend write failed", "backend", peer.String(), "server", peer.Server.Name,
			"err", err, "fails", fails, "disabled", peer.Server.MaxFails > 0 && fails >= peer.Server.MaxFails)
		return
	}

	// 5b. With a response timeout, the backend must start answering the head in time.
	if wait := rt.cfg.Timeouts.Response; wait > 0 && rt.mode != 0 {
		if err := awaitResponse(ctx, backend, wait); err != nil {
			stopped()
			backend.Close()
			if ctx.Err() != nil { // a drain or stop, not the backend's fault
				conn.Close()
				return
			}
			fails := peer.Fail()
			s.reject(ss, slog.LevelWarn, "response timeout", "backend", peer.String(), "server", peer.Server.Name,
				"timeout", wait.String(), "fails", fails, "disabled", peer.Server.MaxFails > 0 && fails >= peer.Server.MaxFails)
			s.refuse(ss, rt, conn, gatewayTimeout)
			return
		}
	}
	stopped()
	if s.log.Enabled(context.Background(), slog.LevelDebug) {
		ss.logger().Debug("tunnel opened", "sni", ss.sni, "backend", peer.String(), "server", peer.Server.Name)
	}

	// 6. Forward both ways until both sides are done; the engine closes both connections and
	// calls finish.
	handedOff = true
	s.engine.Start(ctx, conn, backend, splice.Options{
		Idle:      rt.cfg.Timeouts.Idle,
		HalfClose: rt.cfg.Timeouts.HalfClose,
	}, ss.finish)
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
		has, err := proxyin.HasSignature(raw)
		if err != nil {
			return fmt.Errorf("untrusted peer %s: %w", peer, err)
		}
		if has {
			return fmt.Errorf("PROXY header from untrusted peer %s", peer)
		}
		return nil
	}
	h, err := proxyin.Read(raw)
	if err != nil {
		return fmt.Errorf("trusted peer %s: %w", peer, err)
	}
	src, dst, ok := h.TCPAddrs()
	if !ok {
		return nil // PROXY UNKNOWN / v2 LOCAL (health checks): the peer speaks for itself
	}
	cl.via, cl.addr, cl.local = cl.addr, src, dst
	ip, _ := netip.AddrFromSlice(src.IP)
	if h.TransportProtocol == proxyproto.TCPv4 {
		ip = ip.Unmap() // nginx spells a v4 header address dotted, whatever the socket
	}
	cl.ip = ip
	return nil
}

// sendPreface writes the PROXY header and the replayed bytes to the backend in one writev,
// bounded by the connect timeout.
func sendPreface(backend net.Conn, rt *route, cl *client, st *tls.ConnectionState, replay []byte) error {
	var info *upstream.TLSInfo
	if st != nil {
		info = &upstream.TLSInfo{ServerName: st.ServerName, Version: st.Version, ClientVerified: len(st.VerifiedChains) > 0}
	}
	hdr, err := upstream.ProxyHeader(rt.pool.ProxyProtocol, cl.addr, cl.local, info)
	if err != nil {
		return err
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

// badGateway answers a parsed request when no backend could be reached, gatewayTimeout one that
// the backend did not start answering within the response timeout.
var (
	badGateway     = &preamble.Reject{Status: 502, Reason: "no backend available"}
	gatewayTimeout = &preamble.Reject{Status: 504, Reason: "backend response timeout"}
)

// Bounds on the lingering close after a refusal (nginx's lingering_close does the same): keep
// reading what the client still sends for a moment, so the kernel does not answer it with a
// reset that could destroy the response before the client reads it.
const (
	lingerTime  = time.Second
	lingerBytes = 64 << 10
)

// refuse answers an HTTP error for err when it is a *preamble.Reject (logging why), then closes.
func (s *Server) refuse(ss *session, rt *route, client net.Conn, err error) {
	defer client.Close()
	var rej *preamble.Reject
	if !errors.As(err, &rej) {
		// No answer is possible or useful: the client closed or the connection broke.
		reason := "read failed"
		if errors.Is(err, io.EOF) {
			reason = "client closed before request"
		}
		if s.log.Enabled(context.Background(), slog.LevelDebug) {
			ss.logger().Debug("connection closed", "reason", reason, "err", err)
		}
		return
	}
	if rej != badGateway && rej != gatewayTimeout { // those two are logged by the caller
		s.reject(ss, slog.LevelInfo, "bad request head", "status", rej.Status, "err", rej.Reason)
	}
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
