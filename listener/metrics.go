package listener

import (
	"fmt"
	"io"
	"sync/atomic"

	"github.com/VictoriaMetrics/metrics"

	"github.com/tether-proxy/tether/splice"
)

// routeMetrics are a listener's counters, created when its route is built so the per-connection
// path only increments them.
type routeMetrics struct {
	accepted  *metrics.Counter
	bytesUp   *metrics.Counter
	bytesDown *metrics.Counter
	handshake *metrics.Histogram // TLS handshake time, seconds
	connect   *metrics.Histogram // backend connect time (all attempts), seconds
	tunnel    *metrics.Histogram // tunnel duration, seconds
}

func (s *Server) newRouteMetrics(name string) routeMetrics {
	return routeMetrics{
		accepted:  s.metrics.GetOrCreateCounter(fmt.Sprintf(`tether_connections_total{listener=%q}`, name)),
		bytesUp:   s.metrics.GetOrCreateCounter(fmt.Sprintf(`tether_bytes_total{listener=%q,direction="up"}`, name)),
		bytesDown: s.metrics.GetOrCreateCounter(fmt.Sprintf(`tether_bytes_total{listener=%q,direction="down"}`, name)),
		handshake: s.metrics.GetOrCreateHistogram(fmt.Sprintf(`tether_tls_handshake_seconds{listener=%q}`, name)),
		connect:   s.metrics.GetOrCreateHistogram(fmt.Sprintf(`tether_backend_connect_seconds{listener=%q}`, name)),
		tunnel:    s.metrics.GetOrCreateHistogram(fmt.Sprintf(`tether_tunnel_duration_seconds{listener=%q}`, name)),
	}
}

// registerServerMetrics adds the gauges that read the Server's live state.
func (s *Server) registerServerMetrics() {
	s.acceptErr = s.metrics.NewCounter(`tether_accept_errors_total`)
	s.metrics.NewGauge(`tether_connections_active`, func() float64 { return float64(s.active.Load()) })
	s.metrics.NewGauge(`tether_tls_handshakes_in_progress`, func() float64 {
		if hs := s.handshake.Load(); hs != nil {
			return float64(len(*hs))
		}
		return 0
	})
}

// refused counts a connection tether refused, by reason.
func (s *Server) refused(rt *route, reason string) {
	s.counter(`tether_connections_refused_total{listener=%q,reason=%q}`, rt.cfg.Name, reason).Inc()
	k := refusalKey{rt.cfg.Name, reason}
	n, ok := s.refusedBy.Load(k)
	if !ok {
		n, _ = s.refusedBy.LoadOrStore(k, new(atomic.Uint64))
	}
	n.(*atomic.Uint64).Add(1)
}

// refusedCounts returns the refusals of the named listener by reason (nil: none yet).
func (s *Server) refusedCounts(name string) map[string]uint64 {
	var out map[string]uint64
	s.refusedBy.Range(func(k, v any) bool {
		if k := k.(refusalKey); k.listener == name {
			if out == nil {
				out = make(map[string]uint64)
			}
			out[k.reason] = v.(*atomic.Uint64).Load()
		}
		return true
	})
	return out
}

// WriteMetrics writes the Server's metrics in the Prometheus text format: its counters and
// histograms, then every backend's state from the pools.
func (s *Server) WriteMetrics(w io.Writer) {
	s.metrics.WritePrometheus(w)
	s.writeBackendMetrics(w)
}

// wsEnded counts a WebSocket tunnel that tether ended, by how: "polite" (close frames 1001 at a
// message boundary) or "cut" (TCP closed with a message unfinished, or framing not followed).
func (s *Server) wsEnded(rt *route, e splice.Ending) {
	how := "cut"
	if e == splice.EndingPolite {
		how = "polite"
	}
	s.counter(`tether_websocket_endings_total{listener=%q,ending=%q}`, rt.cfg.Name, how).Inc()
}

// closed counts a tunnel that ended, by listener and reason.
func (s *Server) closed(rt *route, reason string) {
	s.counter(`tether_tunnels_closed_total{listener=%q,reason=%q}`, rt.cfg.Name, reason).Inc()
}

// counter returns the counter of format with a listener and a second label, made once: the
// per-connection path does not format its name each time.
func (s *Server) counter(format, listener, label string) *metrics.Counter {
	k := counterKey{format, listener, label}
	if c, ok := s.counters.Load(k); ok {
		return c.(*metrics.Counter)
	}
	c := s.metrics.GetOrCreateCounter(fmt.Sprintf(format, listener, label))
	s.counters.Store(k, c)
	return c
}

type counterKey struct{ format, listener, label string }
