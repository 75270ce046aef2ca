package balance

import "github.com/tether-proxy/tether/hashing"

// loadBound is bounded-load consistent hashing as HAProxy 2.6 computes it for
// hash-balance-factor (chash_server_is_eligible in src/lb_chash.c): with n tunnels open in the
// whole upstream, the new one makes n+1, and a factor f allows ceil((n+1)*f/100) slots. They
// are dealt out by weight: every primary peer gets eweight*(slots/total weight), the
// remainder is split proportionally to the cumulated weights (so that the slots sum exactly),
// and no peer gets 0. A peer is eligible while its tunnels are fewer than its slots.
type loadBound struct {
	factor  int
	eweight []int // by peer: the weight counted (HAProxy's eweight); 0 for backup and down peers
	cum     []int // by peer: the summed eweight of the peers before it (cumulative_weight)
}

func newLoadBound(factor int, peers []Peer, eweight []int) *loadBound {
	b := &loadBound{factor: factor, eweight: make([]int, len(peers)), cum: make([]int, len(peers))}
	total := 0
	for i, p := range peers {
		if p.Backup || p.Down {
			continue
		}
		b.eweight[i] = eweight[i]
		b.cum[i] = total
		total += eweight[i]
	}
	return b
}

// usableWeight is HAProxy's tot_weight: the summed eweight of the primary peers usable now.
func (b *loadBound) usableWeight(s State) int {
	total := 0
	for i, w := range b.eweight {
		if w > 0 && s.State(i) == hashing.Usable {
			total += w
		}
	}
	return total
}

// eligible reports whether peer i, holding conns tunnels, may take one more when served
// tunnels are open in the upstream and its usable primary peers weigh total.
func (b *loadBound) eligible(i, conns, served, total int) bool {
	if total == 0 || b.eweight[i] == 0 {
		return true
	}
	return conns < b.slots(i, served, total)
}

// slots is the number of tunnels peer i may hold once served+1 are open.
func (b *loadBound) slots(i, served, total int) int {
	tot := ((served+1)*b.factor + 99) / 100
	per, rem := tot/total, tot%total
	w, c := b.eweight[i], b.cum[i]
	s := w*per + ((c+w)*rem)/total - (c*rem)/total
	return max(s, 1)
}

// served sums the tunnels of every peer.
func served(s State, n int) int {
	total := 0
	for i := range n {
		total += s.Conns(i)
	}
	return total
}

// overlay returns s with every usable peer over its bound reported Full.
func (b *loadBound) overlay(s State) *overState {
	return &overState{s: s, b: b, served: served(s, len(b.eweight)), total: b.usableWeight(s)}
}

// overState is a State in which peers over their bound are full.
type overState struct {
	s             State
	b             *loadBound
	served, total int
}

// State reports Full for a usable peer over its bound.
func (o *overState) State(i int) hashing.State {
	st := o.s.State(i)
	if st == hashing.Usable && !o.b.eligible(i, o.s.Conns(i), o.served, o.total) {
		return hashing.Full
	}
	return st
}

// Conns is the underlying State's.
func (o *overState) Conns(i int) int { return o.s.Conns(i) }
