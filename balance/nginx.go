package balance

import "github.com/tether-proxy/tether/hashing"

// nginxHash builds the nginx hash balancers of package hashing in mode m, bounded by
// balance_factor when one is set.
func nginxHash(m hashing.Mode) func([]Peer, Options) (Balancer, error) {
	return func(peers []Peer, o Options) (Balancer, error) {
		hp := make([]hashing.Peer, len(peers))
		for i, p := range peers {
			hp[i] = hashing.Peer{Name: p.Name, Weight: p.Weight, Backup: p.Backup}
		}
		t, err := hashing.New(m, hp)
		if err != nil {
			return nil, err
		}
		if o.Factor == 0 {
			return tableBalancer{t}, nil
		}
		eweight := make([]int, len(peers))
		for i, p := range peers {
			eweight[i] = p.Weight
		}
		return &boundedTable{tableBalancer{t}, newLoadBound(o.Factor, peers, eweight)}, nil
	}
}

// tableBalancer is a hashing.Table as a Balancer.
type tableBalancer struct{ t *hashing.Table }

var _ Balancer = tableBalancer{}

// Start starts a on the table.
func (b tableBalancer) Start(a *hashing.Attempt, key []byte) { b.t.Start(a, key) }

// Next is hashing.Table.Next.
func (b tableBalancer) Next(a *hashing.Attempt, s State) int { return b.t.Next(a, s) }

// Shares is hashing.Table.Shares.
func (b tableBalancer) Shares() []float64 { return b.t.Shares() }

// boundedTable is an nginx consistent ring whose peers take a new client only while their
// tunnels stay within balance_factor of their share of all tunnels: a peer over its bound looks
// full (like one at max_conns) to nginx's walk, which moves on to the next point of the ring.
type boundedTable struct {
	tableBalancer
	bound *loadBound
}

// Next is nginx's choice with every peer over its bound skipped.
func (b *boundedTable) Next(a *hashing.Attempt, s State) int {
	return b.t.Next(a, b.bound.overlay(s))
}
