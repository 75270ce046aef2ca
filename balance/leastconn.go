package balance

import (
	"sync"

	"github.com/tether-proxy/tether/hashing"
)

// leastConn is nginx `least_conn;` (ngx_stream_upstream_get_least_conn_peer in
// src/stream/ngx_stream_upstream_least_conn_module.c, nginx 1.22): among the untried usable
// primary peers, the one with the fewest tunnels per unit of weight (conns*w_best <
// conns_best*w, so weights scale the count); a tie among several is broken by smooth weighted
// round robin over the tied peers, starting from the first of them in list order; when no
// primary peer is usable, the same over the backup peers. A single primary peer without
// backups is returned whenever it is up or only failed, as nginx's round robin does.
// nginx's effective_weight, lowered after failures, is here always the configured weight.
type leastConn struct {
	peers   []Peer
	primary []int
	backup  []int

	mu      sync.Mutex // guards current
	current []int      // nginx's current_weight, by peer
}

func newLeastConn(peers []Peer, _ Options) (Balancer, error) {
	b := &leastConn{peers: peers, current: make([]int, len(peers))}
	for i, p := range peers {
		if p.Backup {
			b.backup = append(b.backup, i)
		} else {
			b.primary = append(b.primary, i)
		}
	}
	return b, nil
}

// Start begins an attempt; least_conn reads no key.
func (b *leastConn) Start(a *hashing.Attempt, _ []byte) { a.Begin(len(b.peers), nil) }

// Next returns the least loaded untried usable peer, primary ones first.
func (b *leastConn) Next(a *hashing.Attempt, s State) int {
	if a.Picks() >= len(b.peers) {
		return -1
	}
	if len(b.primary) == 1 && len(b.backup) == 0 {
		// nginx: peers->single goes to round robin, which takes the one peer unless it is
		// down or full.
		p := b.primary[0]
		if st := s.State(p); !a.Tried(p) && (st == hashing.Usable || st == hashing.Failed) {
			a.Mark(p)
			return p
		}
		return -1
	}
	p := b.pick(a, s, b.primary)
	if p < 0 {
		p = b.pick(a, s, b.backup)
	}
	a.Mark(p)
	return p
}

// pick is one pass of ngx_stream_upstream_get_least_conn_peer over list.
func (b *leastConn) pick(a *hashing.Attempt, s State, list []int) int {
	best, many, at := -1, false, 0
	ok := func(p int) bool { return !a.Tried(p) && s.State(p) == hashing.Usable }
	for k, p := range list {
		if !ok(p) {
			continue
		}
		c, w := s.Conns(p), b.peers[p].Weight
		switch {
		case best < 0 || c*b.peers[best].Weight < s.Conns(best)*w:
			best, many, at = p, false, k
		case c*b.peers[best].Weight == s.Conns(best)*w:
			many = true
		}
	}
	if best < 0 || !many {
		return best // nginx subtracts total from current_weight, and total is 0 without a tie
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	first, total := best, 0
	bc, bw := s.Conns(first), b.peers[first].Weight
	for _, p := range list[at:] {
		if !ok(p) || s.Conns(p)*bw != bc*b.peers[p].Weight {
			continue
		}
		b.current[p] += b.peers[p].Weight
		total += b.peers[p].Weight
		if b.current[p] > b.current[best] {
			best = p
		}
	}
	b.current[best] -= total
	return best
}

// Shares returns each primary peer's weight over the primaries' total: least_conn's split of a
// steady stream of equal, long tunnels.
func (b *leastConn) Shares() []float64 {
	s := make([]float64, len(b.peers))
	total := 0
	for _, p := range b.primary {
		total += b.peers[p].Weight
	}
	for _, p := range b.primary {
		s[p] = float64(b.peers[p].Weight) / float64(total)
	}
	return s
}
