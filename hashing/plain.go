package hashing

import "strconv"

// nextPlain is ngx_stream_upstream_get_hash_peer (Cache::Memcached compatible):
//
//	hash += (crc32([REHASH] KEY) >> 16) & 0x7fff   (REHASH in decimal, omitted the first time)
//	peer  = the primary peer whose weight range contains hash % total_weight
//
// where total_weight includes down peers. A tried, down, failed or full peer costs a try and
// the walk goes on; after 20 misses, for a single peer or an empty key, it falls back to
// round robin. hash, rehash and tries persist across Next calls of one Attempt.
func (t *Table) nextPlain(a *Attempt, h Health) int {
	if a.tries > maxTries || t.single || a.keyLen == 0 {
		return t.nextRoundRobin(a, h)
	}
	for {
		var c uint32
		if a.rehash > 0 {
			var buf [20]byte
			c = crcUpdate(0, strconv.AppendUint(buf[:0], a.rehash, 10))
		}
		c = crcUpdate(c, a.key())
		a.hash += (c >> 16) & 0x7fff
		a.rehash++
		p := t.primary[t.weightIndex(a.hash%t.total)]
		if !a.tried(p) && usable(h.State(p)) {
			return p
		}
		a.tries++
		if a.tries > maxTries {
			return t.nextRoundRobin(a, h)
		}
	}
}

// weightIndex returns the position in the primary list whose weight range contains w
// (w < total): the first i with cum[i] > w, i.e. nginx's "while (w >= peer->weight)" walk.
func (t *Table) weightIndex(w uint32) int {
	i, j := 0, len(t.cum)
	for i < j {
		k := int(uint(i+j) >> 1)
		if t.cum[k] <= w {
			i = k + 1
		} else {
			j = k
		}
	}
	return i
}
