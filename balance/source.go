package balance

import (
	"encoding/binary"
	"fmt"
	"slices"
	"sort"

	"github.com/tether-proxy/tether/hashing"
)

// HAProxy's weight scales (include/haproxy/backend-t.h, server-t.h, 2.6).
const (
	// MaxHAProxyWeight is the largest weight HAProxy accepts (SRV_UWGHT_MAX).
	MaxHAProxyWeight = 256
	beWeightScale    = 16                               // BE_WEIGHT_SCALE: consistent eweight = weight * 16
	srvEweightRange  = MaxHAProxyWeight * beWeightScale // SRV_EWGHT_RANGE: node keys of one id
)

// source is HAProxy 2.6 `balance source` (assign_server and get_server_sh in src/backend.c):
// the 32-bit words of the client address are XORed in network order (one word for an IPv4
// client, four for an IPv6 one) and, with `hash-type map-based` (the default), index the
// server map of src/lb_map.c, or, with `hash-type consistent` (which alone implies the
// avalanche modifier, src/cfgparse-listen.c), go through full_hash and name a point of the
// tree of src/lb_chash.c. When only one server is usable the hash is 0.
//
// Both look only at usable servers: a server that is down, failed, full or already tried in
// this attempt is out, exactly as HAProxy takes a server that goes down out of its map or
// tree. The map is then rebuilt, so map-based clients of live servers move too, as in
// HAProxy; the tree keeps every other point, so consistent clients stay. With no primary
// server usable, the first usable backup server in list order takes everyone (HAProxy's fbck;
// `option allbackups` is not modelled).
type source struct {
	peers      []Peer
	consistent bool
	eweight    []int // by peer: HAProxy's eweight (map: weight / gcd of all weights; consistent: weight * 16)
	bound      *loadBound

	// map-based: the map of the usual case, every peer not configured down being usable
	full     []int32
	fullUsed int // its tot_used
	// consistent: the points of the primary peers, by key, then peer, then node number
	nodes []node
}

// node is one point of the consistent tree.
type node struct {
	key  uint32
	peer int32
}

func newSourceMap(peers []Peer, o Options) (Balancer, error)   { return newSource(peers, o, false) }
func newSourceChash(peers []Peer, o Options) (Balancer, error) { return newSource(peers, o, true) }

func newSource(peers []Peer, o Options, consistent bool) (Balancer, error) {
	ids, err := haproxyIDs(peers)
	if err != nil {
		return nil, err
	}
	b := &source{peers: peers, consistent: consistent, eweight: make([]int, len(peers))}
	gcd := weightGCD(peers)
	for i, p := range peers {
		if p.Weight > MaxHAProxyWeight {
			return nil, fmt.Errorf("server %q: weight %d > %d (HAProxy's maximum)", p.Name, p.Weight, MaxHAProxyWeight)
		}
		if consistent {
			b.eweight[i] = p.Weight * beWeightScale
		} else {
			b.eweight[i] = p.Weight / gcd
		}
	}
	if consistent {
		b.buildTree(ids)
		if o.Factor != 0 {
			b.bound = newLoadBound(o.Factor, peers, b.eweight)
		}
		return b, nil
	}
	configured := func(i int) bool { return !peers[i].Down }
	backup, tot, used := b.mapSet(configured)
	b.fullUsed = used
	b.full = make([]int32, tot)
	b.fillMap(backup, tot, configured, func(o, p int) bool { b.full[o] = int32(p); return true })
	return b, nil
}

// haproxyIDs numbers the peers' server lines with HAProxyIDs; peers of one line (one Name)
// share its id.
func haproxyIDs(peers []Peer) ([]uint32, error) {
	var lines []int
	byName := map[string]int{}
	for _, p := range peers {
		if j, ok := byName[p.Name]; ok {
			if lines[j] != p.ID {
				return nil, fmt.Errorf("server %q: ids %d and %d", p.Name, lines[j], p.ID)
			}
			continue
		}
		byName[p.Name] = len(lines)
		lines = append(lines, p.ID)
	}
	ids, err := HAProxyIDs(lines)
	if err != nil {
		return nil, err
	}
	out := make([]uint32, len(peers))
	for i, p := range peers {
		out[i] = uint32(ids[byName[p.Name]])
	}
	return out, nil
}

// MaxHAProxyID bounds server ids: a server's ring points are full_hash(id*4096 + n), distinct
// below 2^20.
const MaxHAProxyID = 1<<20 - 1

// HAProxyIDs numbers server lines as HAProxy 2.6's check_config_validity does
// (src/cfgparse.c): given each line's explicit id (0: none), in order, the lines without one
// get the first id not taken from a counter that starts at 1 and advances past every line,
// numbered or not. Explicit ids must be unique and within 1..MaxHAProxyID.
func HAProxyIDs(explicit []int) ([]int, error) {
	used := map[int]bool{}
	for i, id := range explicit {
		switch {
		case id < 0 || id > MaxHAProxyID:
			return nil, fmt.Errorf("server %d: id %d out of range 1..%d", i+1, id, MaxHAProxyID)
		case id != 0 && used[id]:
			return nil, fmt.Errorf("server %d: id %d given twice", i+1, id)
		}
		used[id] = id != 0
	}
	ids := make([]int, len(explicit))
	next := 1
	for i, id := range explicit {
		if id == 0 {
			for used[next] {
				next++
			}
			id = next
			used[id] = true
		}
		ids[i] = id
		next++
	}
	return ids, nil
}

// weightGCD is init_server_map's divisor: the greatest common divisor of the weights, all
// servers counted (backup and disabled ones too).
func weightGCD(peers []Peer) int {
	g := 0
	for _, p := range peers {
		a, b := g, p.Weight
		for b != 0 {
			a, b = b, a%b
		}
		g = a
	}
	return max(g, 1)
}

// buildTree places weight*16 points per primary peer at full_hash(id*4096 + n), as
// chash_init_server_tree does.
func (b *source) buildTree(ids []uint32) {
	for i, p := range b.peers {
		if p.Backup {
			continue
		}
		for n := range b.eweight[i] {
			b.nodes = append(b.nodes, node{key: fullHash(ids[i]*srvEweightRange + uint32(n)), peer: int32(i)})
		}
	}
	// eb32 trees keep equal keys in insertion order: peers in list order, points in order.
	slices.SortStableFunc(b.nodes, func(x, y node) int {
		switch {
		case x.key < y.key:
			return -1
		case x.key > y.key:
			return 1
		}
		return 0
	})
}

// fullHash is HAProxy 2.6's full_hash (include/haproxy/intops.h): Bob Jenkins' 32-bit integer
// avalanche, then a multiplication by 3221225473.
func fullHash(a uint32) uint32 {
	a = (a + 0x7ed55d16) + (a << 12)
	a = (a ^ 0xc761c23c) ^ (a >> 19)
	a = (a + 0x165667b1) + (a << 5)
	a = (a + 0xd3a2646c) ^ (a << 9)
	a = (a + 0xfd7046c5) + (a << 3)
	a = (a ^ 0xb55a4f09) ^ (a >> 16)
	return a * 3221225473
}

// sourceHash is get_server_sh's hash: the XOR of the address's 32-bit words in network order.
func sourceHash(addr []byte) uint32 {
	var h uint32
	for l := 0; l+4 <= len(addr); l += 4 {
		h ^= binary.BigEndian.Uint32(addr[l:])
	}
	return h
}

// Start begins an attempt with the client address bytes.
func (b *source) Start(a *hashing.Attempt, key []byte) { a.Begin(len(b.peers), key) }

// Next returns HAProxy's choice among the peers usable now and not yet tried.
func (b *source) Next(a *hashing.Attempt, s State) int {
	if a.Picks() >= len(b.peers) {
		return -1
	}
	usable := func(i int) bool { return !a.Tried(i) && s.State(i) == hashing.Usable }
	var p int
	if b.consistent {
		p = b.nextTree(a.Key(), s, usable)
	} else {
		p = b.nextMap(a.Key(), usable)
	}
	if p >= 0 {
		a.Mark(p)
	}
	return p
}

// mapSet is recount_servers and update_backend_weight over the usable peers: whether the map
// holds backup peers, its size (tot_weight) and the number of peers it serves (tot_used).
func (b *source) mapSet(usable func(int) bool) (backup bool, tot, used int) {
	fbck := -1
	for i, p := range b.peers {
		switch {
		case !usable(i):
		case p.Backup:
			if fbck < 0 {
				fbck = i
			}
		default:
			tot += b.eweight[i]
			used++
		}
	}
	if used > 0 {
		return false, tot, used
	}
	if fbck >= 0 {
		return true, b.eweight[fbck], 1
	}
	return true, 0, 0
}

// fillMap runs recalc_server_map (src/lb_map.c) over the usable peers of the map's kind,
// calling set for each map slot in order until it returns false.
func (b *source) fillMap(backup bool, tot int, usable func(int) bool, set func(o, p int) bool) {
	wscore := make([]int, len(b.peers))
	for o := range tot {
		best, top := -1, 0
		for i, p := range b.peers {
			if p.Backup != backup || !usable(i) {
				continue
			}
			if tot == 1 {
				best = i
				break
			}
			wscore[i] += b.eweight[i]
			if v := (wscore[i] + tot) / tot; best < 0 || v > top {
				best, top = i, v
			}
		}
		if best >= 0 {
			wscore[best] -= tot
		}
		if !set(o, best) {
			return
		}
	}
}

// nextMap is map_get_server_hash: map[hash % tot_weight].
func (b *source) nextMap(key []byte, usable func(int) bool) int {
	usual := true
	for i, p := range b.peers {
		if usable(i) == p.Down {
			usual = false
			break
		}
	}
	if usual && len(b.full) > 0 {
		return int(b.full[b.slot(key, len(b.full), b.fullUsed)])
	}
	backup, tot, used := b.mapSet(usable)
	if tot == 0 {
		return -1
	}
	want, got := b.slot(key, tot, used), -1
	b.fillMap(backup, tot, usable, func(o, p int) bool { got = p; return o < want })
	return got
}

// slot is the map index of key: hash % tot, the hash being 0 when one server is in use.
func (b *source) slot(key []byte, tot, used int) int {
	if used == 1 {
		return 0
	}
	return int(sourceHash(key) % uint32(tot))
}

// nextTree is chash_get_server_hash (src/lb_chash.c): the point closest to the hash among
// those of usable primary peers (the one before it on a tie), then, with a balance factor,
// the next points until a peer under its bound, for at most two turns of the ring.
func (b *source) nextTree(key []byte, s State, usable func(int) bool) int {
	act, fbck := 0, -1
	for i, p := range b.peers {
		switch {
		case !usable(i):
		case !p.Backup:
			act++
		case fbck < 0:
			fbck = i
		}
	}
	if act == 0 {
		return fbck
	}
	h := fullHash(sourceHash(key)) // `hash-type consistent` alone applies the avalanche modifier
	if act == 1 {
		h = 0 // get_server_sh does not hash, nor avalanche, for one server
	}
	n := len(b.nodes)
	live := func(k int) bool { return usable(int(b.nodes[k].peer)) }
	next := b.step(sort.Search(n, func(k int) bool { return b.nodes[k].key >= h })%n, 1, live)
	prev := b.step((next+n-1)%n, -1, live)
	at := next
	if h-b.nodes[prev].key <= b.nodes[next].key-h {
		at = prev
	}
	if b.bound == nil {
		return int(b.nodes[at].peer)
	}
	served, total := served(s, len(b.peers)), b.bound.usableWeight(s)
	for loop := 0; ; {
		p := int(b.nodes[at].peer)
		if b.bound.eligible(p, s.Conns(p), served, total) {
			return p
		}
		for {
			if at++; at == n {
				if at, loop = 0, loop+1; loop > 1 {
					return p
				}
			}
			if live(at) {
				break
			}
		}
	}
}

// step returns the first live node from k on in direction dir (+1 or -1), around the ring;
// there must be one.
func (b *source) step(k, dir int, live func(int) bool) int {
	n := len(b.nodes)
	for !live(k) {
		k = (k + dir + n) % n
	}
	return k
}

// Shares returns each peer's share of the hash space with every peer not configured down
// usable: its slots of the map, or the arcs of the tree nearest to its points.
func (b *source) Shares() []float64 {
	s := make([]float64, len(b.peers))
	if !b.consistent {
		for _, p := range b.full {
			if p >= 0 && !b.peers[p].Backup {
				s[p] += 1 / float64(len(b.full))
			}
		}
		return s
	}
	var live []node
	for _, nd := range b.nodes {
		if !b.peers[nd.peer].Down {
			live = append(live, nd)
		}
	}
	if len(live) == 0 {
		return s
	}
	for k, nd := range live {
		// keys strictly between this point and the next: the nearer one takes them, this one
		// on a tie; the point's own key is its own.
		nx := live[(k+1)%len(live)]
		gap := uint64(nx.key - nd.key)
		if len(live) == 1 {
			gap = 1 << 32
		}
		lower := gap / 2 // keys at most halfway; the middle one is at equal distance and goes to the point before it
		s[nd.peer] += float64(1 + lower)
		s[nx.peer] += float64(gap - 1 - lower)
	}
	for i := range s {
		s[i] /= 1 << 32
	}
	return s
}
