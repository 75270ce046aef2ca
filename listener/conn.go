package listener

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"time"

	"github.com/tether-proxy/tether/hashing"
	"github.com/tether-proxy/tether/preamble"
	"github.com/tether-proxy/tether/splice"
	"github.com/tether-proxy/tether/tlsterm"
	"github.com/tether-proxy/tether/upstream"
)

// aLongTimeAgo is a deadline in the past: setting it makes blocked I/O return at once.
var aLongTimeAgo = time.Unix(1, 0)

// serveConn runs the whole pipeline for one accepted connection, top to bottom.
func (l *listener) serveConn(raw *net.TCPConn) {
	s := l.srv
	defer s.handlers.Done()
	defer s.active.Add(-1)
	ctx, cs := s.track()
	defer s.untrack(cs)
	rt := l.rt.Load()
	start := time.Now()
	clientIP := raw.RemoteAddr().(*net.TCPAddr).AddrPort().Addr()
	log := s.log.With("listener", rt.cfg.Name, "client", raw.RemoteAddr().String())

	// Until forwarding starts, the hard stop interrupts whichever step is blocked.
	stopped := context.AfterFunc(ctx, func() { raw.SetDeadline(aLongTimeAgo) })

	// 1. TLS termination on wss listeners, bounded by the handshake timeout.
	client := net.Conn(raw)
	var sni string
	if rt.tls != nil {
		tc := tls.Server(raw, rt.tls.Config())
		if err := tlsterm.Handshake(tc, rt.cfg.Timeouts.Handshake); err != nil {
			stopped()
			log.Info("connection rejected", "reason", "tls handshake failed", "err", err)
			raw.Close()
			return
		}
		client, sni = tc, tc.ConnectionState().ServerName
	}

	// 2. Read the HTTP request head, bounded in size and time. Everything read is replayed.
	var bufp *[]byte
	var replay []byte
	if rt.mode != 0 {
		bufp = rt.bufs.Get().(*[]byte)
		client.SetReadDeadline(time.Now().Add(rt.cfg.Timeouts.Preamble))
		var head preamble.Head
		n, err := preamble.Read(client, *bufp, &head, rt.mode)
		if err != nil {
			rt.bufs.Put(bufp)
			stopped()
			s.refuse(log, client, err)
			return
		}
		client.SetReadDeadline(time.Time{})
		replay = (*bufp)[:n]
	}

	// 3. Choose the backend by hashing the client address exactly as nginx spells
	// $remote_addr (an IPv4 client on a dual-stack socket is "::ffff:a.b.c.d"), then dial it,
	// moving on to the next peer of the hash when a connect fails.
	var keyBuf [64]byte
	key := hashing.AppendRemoteAddr(keyBuf[:0], clientIP, clientIP.Is4In6())
	backend, peer, err := rt.pool.Connect(ctx, key, rt.dialer, log)
	if err != nil {
		if bufp != nil {
			rt.bufs.Put(bufp)
		}
		stopped()
		log.Warn("connection rejected", "reason", "no backend", "key", string(key), "err", err)
		if rt.mode != 0 {
			s.refuse(log, client, badGateway)
		} else {
			client.Close()
		}
		return
	}
	defer peer.Release()

	// 4. PROXY header (if configured) and the replayed head, in one write.
	err = sendPreface(backend, rt, raw, replay)
	if bufp != nil {
		rt.bufs.Put(bufp)
	}
	stopped()
	if err != nil {
		log.Warn("connection rejected", "reason", "backend write failed", "backend", peer.String(), "err", err)
		backend.Close()
		client.Close()
		return
	}
	log.Debug("tunnel opened", "sni", sni, "backend", peer.String(), "server", peer.Server.Name)

	// 5. Forward both ways until both sides are done; Forward closes both connections.
	res := s.engine.Forward(ctx, client, backend, splice.Options{
		Idle:      rt.cfg.Timeouts.Idle,
		HalfClose: rt.cfg.Timeouts.HalfClose,
	})

	// 6. One access-log line per tunnel.
	attrs := []slog.Attr{
		slog.String("sni", sni),
		slog.String("backend", peer.String()),
		slog.String("server", peer.Server.Name),
		slog.Int64("bytes_up", res.Up+int64(len(replay))),
		slog.Int64("bytes_down", res.Down),
		slog.Duration("duration", time.Since(start)),
		slog.String("reason", closeReason(res)),
	}
	if res.Err != nil && res.Reason != splice.Aborted {
		attrs = append(attrs, slog.String("err", res.Err.Error()))
	}
	log.LogAttrs(context.Background(), slog.LevelInfo, "tunnel closed", attrs...)
}

// sendPreface writes the PROXY header and the replayed bytes to the backend in one writev,
// bounded by the connect timeout.
func sendPreface(backend net.Conn, rt *route, client net.Conn, replay []byte) error {
	hdr, err := upstream.ProxyHeader(rt.pool.ProxyProtocol, client.RemoteAddr(), client.LocalAddr())
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

// badGateway answers a parsed request when no backend could be reached.
var badGateway = &preamble.Reject{Status: 502, Reason: "no backend available"}

// Bounds on the lingering close after a refusal (nginx's lingering_close does the same): keep
// reading what the client still sends for a moment, so the kernel does not answer it with a
// reset that could destroy the response before the client reads it.
const (
	lingerTime  = time.Second
	lingerBytes = 64 << 10
)

// refuse answers an HTTP error for err when it is a *preamble.Reject (logging why), then closes.
func (s *Server) refuse(log *slog.Logger, client net.Conn, err error) {
	defer client.Close()
	var rej *preamble.Reject
	if !errors.As(err, &rej) {
		// No answer is possible or useful: the client closed or the connection broke.
		reason := "read failed"
		if errors.Is(err, io.EOF) {
			reason = "client closed before request"
		}
		log.Debug("connection closed", "reason", reason, "err", err)
		return
	}
	if rej != badGateway {
		log.Info("connection rejected", "reason", "bad request head", "status", rej.Status, "err", rej.Reason)
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
	return res.Reason.String()
}
