package hashing

import (
	"errors"
	"fmt"
	"slices"
	"sync"
)

// maxTotalWeight bounds the summed weight of the primary peers. nginx has no limit, but a
// consistent ring holds 160 points per unit of weight and a bound keeps a typo such as
// weight=1000000 from allocating gigabytes.
const maxTotalWeight = 1 << 16

// ErrNoPeers is returned by New for a peer list without a primary (non-backup) peer; nginx
// refuses such an upstream with "no servers in upstream".
var ErrNoPeers = errors.New("no servers in upstream")

// Table is the selection state of one upstream: the peer list, the consistent ring or the
// plain weight walk, and nginx's smooth weighted round-robin counters. It is immutable after
// New except for those counters, and safe for concurrent use. Use New; the zero Table is not
// usable.
type Table struct {
	mode    Mode
	peers   []Peer
	primary []int // indices of primary peers, nginx's peers->peer list
	backup  []int // indices of backup peers, nginx's peers->next list
	// single is nginx's peers->single: exactly one primary peer and no backup peer.
	single bool
	// total is nginx's peers->total_weight: the summed weight of the primary peers,
	// down ones included.
	total uint32

	// Plain: cum[i] is the summed weight of primary[0..i].
	cum []uint32

	// Consistent: ring holds the sorted, deduplicated point hashes, owner[i] the group
	// (server name) of ring[i], groups the primary peers of each name in list order.
	ring   []uint32
	owner  []int32
	groups [][]int
	// bucket[k] is the first ring index whose hash has top bits >= k (32-shift bits).
	bucket []uint32
	shift  uint

	mu sync.Mutex // guards current
	// current is nginx's per-peer current_weight for smooth weighted round robin.
	current []int
}

// New builds the table for peers in mode. It returns an error for an unknown mode, a list
// without a primary peer, a weight below 1, or primary weights summing to more than 65536.
func New(mode Mode, peers []Peer) (*Table, error) {
	if mode != Consistent && mode != Plain && mode != IPHash {
		return nil, fmt.Errorf("hashing: unknown mode %d", mode)
	}
	t := &Table{
		mode:    mode,
		peers:   slices.Clone(peers),
		current: make([]int, len(peers)),
	}
	for i, p := range t.peers {
		if p.Weight < 1 {
			return nil, fmt.Errorf("hashing: server %q: weight %d < 1", p.Name, p.Weight)
		}
		if p.Backup {
			t.backup = append(t.backup, i)
			continue
		}
		if int(t.total)+p.Weight > maxTotalWeight {
			return nil, fmt.Errorf("hashing: server %q: total weight exceeds %d", p.Name, maxTotalWeight)
		}
		t.primary = append(t.primary, i)
		t.total += uint32(p.Weight)
		t.cum = append(t.cum, t.total)
	}
	if len(t.primary) == 0 {
		return nil, fmt.Errorf("hashing: %w", ErrNoPeers)
	}
	// ngx_stream_upstream_init_round_robin: single = (n == 1), cleared when there are backups.
	t.single = len(t.primary) == 1 && len(t.backup) == 0
	if mode == Consistent {
		t.buildRing()
	}
	return t, nil
}

// Mode returns the algorithm the table was built for.
func (t *Table) Mode() Mode { return t.mode }

// Peers returns a copy of the peer list given to New.
func (t *Table) Peers() []Peer { return slices.Clone(t.peers) }

// Shares returns each peer's share of the hash space, indexed like Peers; the shares sum to 1.
// Consistent: the fraction of the 2^32 ring owned by the points of the peer's Name after
// deduplication, split among the peers sharing that Name in proportion to their weights (the
// split round robin gives them). Plain: weight / total weight of the primary peers. Backup
// peers get 0. Health is not taken into account.
func (t *Table) Shares() []float64 {
	s := make([]float64, len(t.peers))
	if t.mode != Consistent {
		for _, i := range t.primary {
			s[i] = float64(t.peers[i].Weight) / float64(t.total)
		}
		return s
	}
	arcs := make([]float64, len(t.groups))
	n := len(t.ring)
	for i, h := range t.ring {
		// A key goes to the first point >= its hash; keys above the last point wrap to point 0.
		var arc uint64
		if i == 0 {
			arc = 1<<32 + uint64(h) - uint64(t.ring[n-1])
		} else {
			arc = uint64(h) - uint64(t.ring[i-1])
		}
		arcs[t.owner[i]] += float64(arc)
	}
	for g, members := range t.groups {
		w := 0
		for _, i := range members {
			w += t.peers[i].Weight
		}
		for _, i := range members {
			s[i] = arcs[g] / (1 << 32) * float64(t.peers[i].Weight) / float64(w)
		}
	}
	return s
}
