package hashing

import (
	"cmp"
	"encoding/binary"
	"hash/crc32"
	"slices"
	"strings"
)

// pointsPerWeight is the number of ring points per unit of weight
// (ngx_stream_upstream_update_chash: npoints = peer->weight * 160).
const pointsPerWeight = 160

type point struct {
	hash  uint32
	group int32
}

// buildRing builds the ketama ring like ngx_stream_upstream_update_chash: for every primary
// peer in list order, down ones included, base = crc32(HOST "\0" PORT) and then
// 160*weight points, each crc32(base-state + previous point as 4 little-endian bytes)
// (Cache::Memcached::Fast compatible). The points are sorted by hash with a stable sort —
// nginx calls glibc qsort, a merge sort — and equal hashes are collapsed keeping the first,
// so on a collision the server listed first wins.
func (t *Table) buildRing() {
	names := make(map[string]*chain)
	pts := make([]point, 0, int(t.total)*pointsPerWeight)
	for _, i := range t.primary {
		p := t.peers[i]
		c := names[p.Name]
		if c == nil {
			c = newChain(p.Name, int32(len(t.groups)))
			names[p.Name] = c
			t.groups = append(t.groups, nil)
		}
		t.groups[c.group] = append(t.groups[c.group], i)
		// Another peer of the same name (a second address, a repeated line) produces the
		// same chain of points again and the deduplication drops the copies, keeping the
		// first; only the part of its chain not produced yet (a larger weight) is new, at
		// this peer's position in the list.
		pts = c.extend(pts, p.Weight*pointsPerWeight)
	}
	slices.SortStableFunc(pts, func(a, b point) int { return cmp.Compare(a.hash, b.hash) })
	pts = slices.CompactFunc(pts, func(a, b point) bool { return a.hash == b.hash })
	t.ring = make([]uint32, len(pts))
	t.owner = make([]int32, len(pts))
	for i, p := range pts {
		t.ring[i] = p.hash
		t.owner[i] = p.group
	}
	t.buildIndex()
}

// chain is the point sequence of one server name: base = crc32(HOST "\0" PORT), then
// point[j] = crc32(HOST "\0" PORT point[j-1]) with point[-1] = 0, as 4 little-endian bytes
// (nginx's prev_hash union, stored little-endian on every platform).
type chain struct {
	group int32
	base  uint32  // CRC state after HOST "\0" PORT
	made  int     // points produced so far
	prev  [4]byte // the last point, little-endian
}

func newChain(name string, group int32) *chain {
	host, port := splitHostPort(name)
	base := crc32.Update(0, crc32.IEEETable, []byte(host))
	base = crc32.Update(base, crc32.IEEETable, []byte{0})
	base = crc32.Update(base, crc32.IEEETable, []byte(port))
	return &chain{group: group, base: base}
}

// extend appends the chain's points up to n in total.
func (c *chain) extend(pts []point, n int) []point {
	for ; c.made < n; c.made++ {
		h := crc32.Update(c.base, crc32.IEEETable, c.prev[:])
		pts = append(pts, point{hash: h, group: c.group})
		binary.LittleEndian.PutUint32(c.prev[:], h)
	}
	return pts
}

// splitHostPort splits a server name like ngx_stream_upstream_update_chash does: a
// case-insensitive "unix:" prefix is a socket path without port; otherwise the port is the
// run of digits after the last ':' (scanning from the end, a non-digit before any ':' means
// there is no port and the whole name is the host). "[::1]:80" gives "[::1]" and "80".
func splitHostPort(name string) (host, port string) {
	if len(name) >= 5 && strings.EqualFold(name[:5], "unix:") {
		return name[5:], ""
	}
	for j := len(name) - 1; j >= 0; j-- {
		c := name[j]
		if c == ':' {
			return name[:j], name[j+1:]
		}
		if c < '0' || c > '9' {
			break
		}
	}
	return name, ""
}

// findPoint returns the index of the first ring point with hash >= h, or len(ring) when
// there is none (ngx_stream_upstream_find_chash_point, a binary search; the caller takes the
// index modulo the ring size). The bucket index narrows the search to the points sharing the
// top bits of h, about one on average.
func (t *Table) findPoint(h uint32) uint32 {
	k := h >> t.shift
	i, end := t.bucket[k], t.bucket[k+1]
	for i < end && t.ring[i] < h {
		i++
	}
	return i
}

// buildIndex fills bucket: bucket[k] is the first point whose top bits are >= k, for a
// power-of-two number of buckets at least the number of points (at most 2^20).
func (t *Table) buildIndex() {
	bits := uint(1)
	for bits < 20 && 1<<bits < len(t.ring) {
		bits++
	}
	t.shift = 32 - bits
	t.bucket = make([]uint32, 1<<bits+1)
	i := 0
	for k := range t.bucket {
		for i < len(t.ring) && uint64(t.ring[i])>>t.shift < uint64(k) {
			i++
		}
		t.bucket[k] = uint32(i)
	}
}
