package listener

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/tether-proxy/tether/upstream"
)

// Status is a snapshot of what the Server serves, for the admin status page.
type Status struct {
	Listeners []ListenerStatus `json:"listeners"`
	Upstreams []UpstreamStatus `json:"upstreams"`
	Engine    EngineStatus     `json:"engine"`
}

// ListenerStatus is one listener at one instant. The counters run since the process started
// (a reload keeps counting for a listener of the same name).
type ListenerStatus struct {
	Name     string `json:"name"`
	Addr     string `json:"addr"` // the bound address (with the port the kernel chose for port 0)
	Upstream string `json:"upstream"`
	TLS      bool   `json:"tls"`
	Preamble string `json:"preamble"`
	Active   int64  `json:"active"`   // connections being served
	Accepted uint64 `json:"accepted"` // connections accepted
	// Bytes of ended tunnels each way (up: client to backend); a tunnel's count when it ends.
	BytesUp   uint64 `json:"bytes_up"`
	BytesDown uint64 `json:"bytes_down"`
	// Refused counts refused connections by reason (the reasons of the
	// tether_connections_refused_total metric); absent while there were none.
	Refused map[string]uint64 `json:"refused,omitempty"`
}

// EngineStatus is the copy engine at one instant.
type EngineStatus struct {
	Loops       int `json:"loops"`        // event loops running (0 before the first tunnel, and on goroutines)
	LoopTunnels int `json:"loop_tunnels"` // tunnels on them now
}

// UpstreamStatus is one upstream's backends at one instant.
type UpstreamStatus struct {
	Name    string                `json:"name"`
	Balance string                `json:"balance"`
	Peers   []upstream.PeerStatus `json:"peers"`
}

// Status returns a snapshot of the listeners and every upstream's backends.
func (s *Server) Status() Status {
	s.mu.Lock()
	lns := s.lns
	cfg := s.cfg
	pools := s.pools
	s.mu.Unlock()
	var st Status
	for _, l := range lns {
		rt := l.rt.Load()
		ls := ListenerStatus{Name: rt.cfg.Name, Upstream: rt.cfg.Upstream, TLS: rt.tls != nil,
			Preamble: string(rt.cfg.Preamble), Active: l.active.Load(), Accepted: rt.metrics.accepted.Get(),
			BytesUp: rt.metrics.bytesUp.Get(), BytesDown: rt.metrics.bytesDown.Get(), Refused: s.refusedCounts(rt.cfg.Name)}
		if l.ln != nil {
			ls.Addr = l.ln.Addr().String()
		}
		st.Listeners = append(st.Listeners, ls)
	}
	names := make([]string, 0, len(pools))
	for name := range pools {
		names = append(names, name)
	}
	slices.Sort(names)
	es := s.engine.Stats()
	st.Engine = EngineStatus{Loops: es.Loops, LoopTunnels: es.Looped}
	for _, name := range names {
		st.Upstreams = append(st.Upstreams, UpstreamStatus{
			Name: name, Balance: string(cfg.Upstreams[name].Balance), Peers: pools[name].Snapshot()})
	}
	return st
}

// Drain stops sending new clients to the backends of upstream that match target (a server
// name as written, or one address); their tunnels stay until they end or, with a deadline > 0,
// until it passes, when the ones still open are closed evenly over spread (a negative spread:
// the configured drain_spread). It returns how many peers matched.
func (s *Server) Drain(upstreamName, target string, deadline, spread time.Duration) (int, error) {
	p := s.Pool(upstreamName)
	if p == nil {
		return 0, fmt.Errorf("no upstream named %q", upstreamName)
	}
	if spread < 0 {
		spread = s.Config().DrainSpread
	}
	return p.Drain(target, deadline, spread)
}

// Undrain ends a drain started with Drain.
func (s *Server) Undrain(upstreamName, target string) (int, error) {
	p := s.Pool(upstreamName)
	if p == nil {
		return 0, fmt.Errorf("no upstream named %q", upstreamName)
	}
	return p.Undrain(target)
}

// writeBackendMetrics writes every backend's state from the pools' snapshots.
func (s *Server) writeBackendMetrics(w io.Writer) {
	st := s.Status()
	type family struct{ name, help, kind string }
	families := []family{
		{"tether_backend_up", "1 when the backend gets new clients (not down, draining, unhealthy or failed)", "gauge"},
		{"tether_backend_active_tunnels", "tunnels open to the backend", "gauge"},
		{"tether_backend_tunnels_total", "tunnels opened to the backend", "counter"},
		{"tether_backend_fails", "failed connects counted for max_fails", "gauge"},
		{"tether_backend_ring_share", "the backend's share of the hash ring", "gauge"},
	}
	for _, f := range families {
		fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s %s\n", f.name, f.help, f.name, f.kind)
		for _, u := range st.Upstreams {
			for _, p := range u.Peers {
				labels := fmt.Sprintf(`{upstream=%q,server=%q,addr=%q,state=%q}`, u.Name, p.Server, p.Addr, p.State)
				var v float64
				switch f.name {
				case "tether_backend_up":
					if p.State == upstream.StateUp {
						v = 1
					}
				case "tether_backend_active_tunnels":
					v = float64(p.Active)
				case "tether_backend_tunnels_total":
					v = float64(p.Total)
				case "tether_backend_fails":
					v = float64(p.Fails)
				case "tether_backend_ring_share":
					v = p.Share
				}
				fmt.Fprintf(w, "%s%s %s\n", f.name, labels, strings.TrimSuffix(fmt.Sprintf("%g", v), ".0"))
			}
		}
	}
}
