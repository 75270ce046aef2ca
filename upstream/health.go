package upstream

import "github.com/tether-proxy/tether/hashing"

// liveHealth is the live health of a view's peers, read at the moment the hash asks. It is the
// view itself under another method set, so passing it as a hashing.Health allocates nothing.
type liveHealth view

var _ hashing.Health = (*liveHealth)(nil)

// State applies nginx's order of checks: down (configured, drained at runtime, or failing its
// active checks), then max_fails within fail_timeout, then max_conns.
func (h *liveHealth) State(i int) hashing.State {
	p := h.peers[i]
	switch {
	case p.Server.Down || p.draining.Load() || p.unhealthy.Load():
		return hashing.Down
	case p.failedAt(clock()):
		return hashing.Failed
	case p.Server.MaxConns > 0 && int(p.conns.Load()) >= p.Server.MaxConns:
		return hashing.Full
	}
	return hashing.Usable
}

// configuredHealth sees only what the configuration says: `down` peers are down, every other
// peer is healthy. It answers "where would this client go when all is well".
type configuredHealth []*Peer

var _ hashing.Health = configuredHealth(nil)

// State reports Down for `down` peers and Usable for the rest.
func (c configuredHealth) State(i int) hashing.State {
	if c[i].Server.Down {
		return hashing.Down
	}
	return hashing.Usable
}
