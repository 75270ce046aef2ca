package listener

import (
	"context"
	"log/slog"
	"net"
	"net/netip"
	"time"

	"github.com/tether-proxy/tether/splice"
	"github.com/tether-proxy/tether/upstream"
)

// session is what one connection holds from accept to the end of its tunnel: what to log and
// what to release. serveConn fills it; finish (called by the engine) or cleanup ends it.
type session struct {
	l         *listener
	rt        *route
	start     time.Time
	cl        client
	log       *slog.Logger // built on first use: most connections never log at the enabled level
	admitted  bool         // counted by admit
	cs        *connState   // tracked for drains
	perClient bool         // counted by max_conns_per_client
	peer      *upstream.Lease
	sni       string
	replayed  int64 // request-head bytes sent to the backend before the tunnel
}

// newSession starts the session of an accepted connection: the route it is served by (loaded
// once, so a reload changes only later connections) and who it is from.
func (l *listener) newSession(raw *net.TCPConn) *session {
	return l.newSessionFrom(raw.RemoteAddr().(*net.TCPAddr).AddrPort())
}

// newSessionFrom is newSession for a client at remote (the address of the client's socket,
// as its family spells it).
func (l *listener) newSessionFrom(remote netip.AddrPort) *session {
	rt := l.rt.Load()
	ss := &session{l: l, rt: rt, start: time.Now()}
	ss.cl = client{addr: remote, ip: remote.Addr()}
	rt.metrics.accepted.Inc()
	return ss
}

// logger returns the connection's logger, with its listener and client.
func (ss *session) logger() *slog.Logger {
	if ss.log == nil {
		attrs := []any{"listener", ss.rt.cfg.Name, "client", ss.cl.addr.String()}
		if ss.cl.via.IsValid() {
			attrs = append(attrs, "via", ss.cl.via.String())
		}
		ss.log = ss.l.srv.log.With(attrs...)
	}
	return ss.log
}

// Warn logs a failed backend connect with the connection's attributes (upstream.Connect).
func (ss *session) Warn(msg string, args ...any) { ss.logger().Warn(msg, args...) }

var _ upstream.Logger = (*session)(nil)

// finish records the tunnel's metrics and releases the session; the access-log line, when
// enabled, is written on a goroutine of its own. It runs on the engine's event loop, so it
// must not block.
func (ss *session) finish(res splice.Result) {
	s, rt := ss.l.srv, ss.rt
	up := res.Up + ss.replayed
	why := closeReason(res)
	s.closed(rt, why)
	rt.metrics.tunnel.UpdateDuration(ss.start)
	rt.metrics.bytesUp.Add(int(up))
	rt.metrics.bytesDown.Add(int(res.Down))
	ss.peer.AddBytes(up, res.Down)
	if res.Ending != splice.EndingNone {
		s.wsEnded(rt, res.Ending)
	}
	if res.FramingErr != nil {
		// Once per tunnel: tracking stopped at the first bad frame; the bytes went through.
		go ss.logger().Info("websocket framing not followed", "backend", ss.peer.String(), "err", res.FramingErr)
	}
	if s.log.Enabled(context.Background(), slog.LevelInfo) {
		attrs := []slog.Attr{
			slog.String("sni", ss.sni),
			slog.String("backend", ss.peer.String()),
			slog.String("server", ss.peer.Server.Name),
			slog.Int64("bytes_up", up),
			slog.Int64("bytes_down", res.Down),
			slog.Duration("duration", time.Since(ss.start)),
			slog.String("reason", why),
		}
		if res.Ending != splice.EndingNone {
			attrs = append(attrs, slog.String("close", res.Ending.String()))
		}
		if res.Err != nil && res.Reason != splice.Aborted {
			attrs = append(attrs, slog.String("err", res.Err.Error()))
		}
		ss.cleanup() // before the log line: a client's next connection must find its slot free
		go ss.logger().LogAttrs(context.Background(), slog.LevelInfo, "tunnel closed", attrs...)
		return
	}
	ss.cleanup()
}

// cleanup releases, in reverse order of acquisition, what the session holds.
func (ss *session) cleanup() {
	l, s := ss.l, ss.l.srv
	if ss.peer != nil {
		ss.peer.Release()
	}
	if ss.perClient {
		l.clients.release(ss.cl.ip)
	}
	if ss.cs != nil {
		s.untrack(ss.cs)
	}
	if ss.admitted {
		l.done()
	}
	s.active.Add(-1)
	s.handlers.Done()
}
