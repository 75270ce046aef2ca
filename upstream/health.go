package upstream

import "github.com/tether-proxy/tether/hashing"

// healthAt is the live view of peers' health at one instant, for one selection.
type healthAt struct {
	peers []*Peer
	now   int64
}

var _ hashing.Health = (*healthAt)(nil)

// State applies nginx's order of checks: down, then max_fails within fail_timeout, then max_conns.
func (h *healthAt) State(i int) hashing.State {
	p := h.peers[i]
	switch {
	case p.Server.Down:
		return hashing.Down
	case p.failedAt(h.now):
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
