package upstream

import (
	"github.com/tether-proxy/tether/balance"
	"github.com/tether-proxy/tether/hashing"
)

// liveHealth is the live health of a view's peers, read at the moment the hash asks. It is the
// view itself under another method set, so passing it as a hashing.Health allocates nothing.
type liveHealth view

var _ balance.State = (*liveHealth)(nil)

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

// Conns returns the tunnels open to peer i.
func (h *liveHealth) Conns(i int) int { return int(h.peers[i].conns.Load()) }

// configuredHealth sees only what the configuration says: `down` peers are down, every other
// peer is healthy and idle. It answers "where would this client go when all is well".
type configuredHealth []*Peer

var _ balance.State = configuredHealth(nil)

// State reports Down for `down` peers and Usable for the rest.
func (c configuredHealth) State(i int) hashing.State {
	if c[i].Server.Down {
		return hashing.Down
	}
	return hashing.Usable
}

// Conns is 0: every peer idle.
func (c configuredHealth) Conns(int) int { return 0 }
