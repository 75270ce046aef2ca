package hashing

// nextConsistent is ngx_stream_upstream_get_chash_peer: walk the ring from the key's point;
// at each point choose, among the untried usable primary peers carrying the point's server
// name, one by smooth weighted round robin; when there is none move to the next point. After
// 20 misses, for a single peer or an empty key, fall back to round robin.
func (t *Table) nextConsistent(a *Attempt, h Health) int {
	if a.tries > maxTries || t.single || a.keyLen == 0 {
		return t.nextRoundRobin(a, h)
	}
	n := uint32(len(t.ring))
	for {
		if p := t.pick(a, h, t.groups[t.owner[a.hash%n]]); p >= 0 {
			return p
		}
		a.hash++
		a.tries++
		if a.tries > maxTries {
			return t.nextRoundRobin(a, h)
		}
	}
}

// pick chooses among the untried usable peers of list by nginx's smooth weighted round
// robin (current_weight += effective_weight; the largest current weight wins, first listed on
// ties; the winner's current weight drops by the total), or returns -1. The common case of a
// single candidate leaves the counters unchanged (+w then -w), so it takes no lock.
func (t *Table) pick(a *Attempt, h Health, list []int) int {
	first, count := -1, 0
	for _, i := range list {
		if a.tried(i) || !usable(h.State(i)) {
			continue
		}
		if first < 0 {
			first = i
		}
		count++
	}
	if count <= 1 {
		return first
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	best, total := -1, 0
	for _, i := range list {
		if a.tried(i) || !usable(h.State(i)) {
			continue
		}
		w := t.peers[i].Weight // effective_weight; its decay after failures is not modelled
		t.current[i] += w
		total += w
		if best < 0 || t.current[i] > t.current[best] {
			best = i
		}
	}
	if best >= 0 {
		t.current[best] -= total
	}
	return best
}
