package hashing

import (
	"fmt"
	"hash/crc32"
	"math/rand/v2"
	"sort"
	"strconv"
	"testing"
)

// ngxModel is a literal, unoptimised transliteration of nginx 1.22's stream hash balancers
// (linked peer lists, per-list tried bitmaps reset for the backup list, string compares of
// server names, pc->tries). Table must agree with it call for call; the real-nginx vectors
// and nginx_test.go check the model's reading of nginx itself.
type ngxModel struct {
	mode    Mode
	primary *ngxPeers
	points  []ngxPoint
}

type ngxPeer struct {
	idx                        int // index in the Peer slice given to New
	name                       string
	weight, effective, current int
}

type ngxPeers struct {
	peer        []*ngxPeer
	single      bool
	totalWeight int
	next        *ngxPeers
}

type ngxPoint struct {
	hash   uint32
	server string
}

type ngxAttempt struct {
	peers   *ngxPeers
	tried   []bool
	key     []byte
	hash    uint32
	rehash  uint64
	tries   int
	pcTries int
}

func newNgxModel(mode Mode, peers []Peer) *ngxModel {
	m := &ngxModel{mode: mode}
	prim, back := &ngxPeers{}, &ngxPeers{}
	for i, p := range peers {
		l := prim
		if p.Backup {
			l = back
		}
		l.peer = append(l.peer, &ngxPeer{idx: i, name: p.Name, weight: p.Weight, effective: p.Weight})
		l.totalWeight += p.Weight
	}
	prim.single = len(prim.peer) == 1
	if len(back.peer) > 0 {
		prim.single = false
		prim.next = back
	}
	m.primary = prim
	if mode == Consistent {
		for _, p := range prim.peer {
			host, port := splitHostPort(p.name)
			b := []byte(host + "\x00" + port + "pppp")
			var prev uint32
			for range p.weight * 160 {
				n := len(b) - 4
				b[n], b[n+1], b[n+2], b[n+3] = byte(prev), byte(prev>>8), byte(prev>>16), byte(prev>>24)
				h := crc32.ChecksumIEEE(b)
				m.points = append(m.points, ngxPoint{h, p.name})
				prev = h
			}
		}
		sort.SliceStable(m.points, func(i, j int) bool { return m.points[i].hash < m.points[j].hash })
		i := 0
		for j := 1; j < len(m.points); j++ {
			if m.points[i].hash != m.points[j].hash {
				i++
				m.points[i] = m.points[j]
			}
		}
		m.points = m.points[:i+1]
	}
	return m
}

func (m *ngxModel) start(key []byte) *ngxAttempt {
	n := len(m.primary.peer)
	if m.primary.next != nil {
		n += len(m.primary.next.peer)
	}
	a := &ngxAttempt{peers: m.primary, tried: make([]bool, n), key: key, pcTries: n}
	if m.mode == Consistent {
		h := crc32.ChecksumIEEE(key)
		a.hash = uint32(sort.Search(len(m.points), func(i int) bool { return m.points[i].hash >= h }))
	}
	return a
}

func (m *ngxModel) next(a *ngxAttempt, h Health) int {
	if a.pcTries == 0 {
		return -1
	}
	var p *ngxPeer
	if m.mode == Consistent {
		p = m.getChash(a, h)
	} else {
		p = m.getHash(a, h)
	}
	if p == nil {
		return -1
	}
	a.pcTries--
	return p.idx
}

func ngxSkip(s State) bool { return s != Usable }

func (m *ngxModel) getHash(a *ngxAttempt, h Health) *ngxPeer {
	if a.tries > 20 || a.peers.single || len(a.key) == 0 {
		return m.getRR(a, h)
	}
	for {
		var buf []byte
		if a.rehash > 0 {
			buf = strconv.AppendUint(buf, a.rehash, 10)
		}
		hash := crc32.ChecksumIEEE(append(buf, a.key...))
		a.hash += (hash >> 16) & 0x7fff
		a.rehash++
		w := int(a.hash % uint32(a.peers.totalWeight))
		p := 0
		for w >= a.peers.peer[p].weight {
			w -= a.peers.peer[p].weight
			p++
		}
		peer := a.peers.peer[p]
		if !a.tried[p] && !ngxSkip(h.State(peer.idx)) {
			a.tried[p] = true
			return peer
		}
		a.tries++
		if a.tries > 20 {
			return m.getRR(a, h)
		}
	}
}

func (m *ngxModel) getChash(a *ngxAttempt, h Health) *ngxPeer {
	if a.tries > 20 || a.peers.single || len(a.key) == 0 {
		return m.getRR(a, h)
	}
	for {
		server := m.points[a.hash%uint32(len(m.points))].server
		var best *ngxPeer
		bestI, total := 0, 0
		for i, peer := range a.peers.peer {
			if a.tried[i] || ngxSkip(h.State(peer.idx)) || peer.name != server {
				continue
			}
			peer.current += peer.effective
			total += peer.effective
			if best == nil || peer.current > best.current {
				best, bestI = peer, i
			}
		}
		if best != nil {
			best.current -= total
			a.tried[bestI] = true
			return best
		}
		a.hash++
		a.tries++
		if a.tries > 20 {
			return m.getRR(a, h)
		}
	}
}

func (m *ngxModel) getRR(a *ngxAttempt, h Health) *ngxPeer {
	peers := a.peers
	if peers.single {
		peer := peers.peer[0]
		if s := h.State(peer.idx); s == Usable || s == Failed { // unknown states count as Down
			return peer
		}
	} else if peer := m.getPeer(a, h); peer != nil {
		return peer
	}
	if peers.next != nil {
		a.peers = peers.next
		clear(a.tried)
		return m.getRR(a, h)
	}
	return nil
}

func (m *ngxModel) getPeer(a *ngxAttempt, h Health) *ngxPeer {
	var best *ngxPeer
	bestI, total := 0, 0
	for i, peer := range a.peers.peer {
		if a.tried[i] || ngxSkip(h.State(peer.idx)) {
			continue
		}
		peer.current += peer.effective
		total += peer.effective
		if best == nil || peer.current > best.current {
			best, bestI = peer, i
		}
	}
	if best == nil {
		return nil
	}
	a.tried[bestI] = true
	best.current -= total
	return best
}

// randomPeers returns 1..maxPeers peers with at least one primary; names come from a
// small pool so that duplicates and shared names are common.
func randomPeers(r *rand.Rand, maxPeers int) []Peer {
	names := []string{"127.0.0.1:3001", "127.0.0.1:3002", "localhost:3003", "10.0.0.4:80",
		"backend.example:8080", "unix:/run/b.sock", "[::1]:9000", "host-without-port"}
	n := 1 + r.IntN(maxPeers)
	peers := make([]Peer, n)
	for i := range peers {
		peers[i] = Peer{
			Name:   names[r.IntN(len(names))],
			Weight: 1 + r.IntN(4),
			Backup: r.IntN(5) == 0,
		}
	}
	peers[r.IntN(n)].Backup = false
	return peers
}

func randomStates(r *rand.Rand, s states) {
	for i := range s {
		switch v := r.IntN(10); {
		case v < 6:
			s[i] = Usable
		default:
			s[i] = State(v - 5) // Down, Failed, Full, and 4 = unknown
		}
	}
}

func TestTableMatchesModel(t *testing.T) {
	seed := rand.Uint64()
	r := rand.New(rand.NewPCG(seed, 1))
	cases, calls := 0, 0
	for c := range 250 {
		maxPeers := 12
		if c%50 == 0 {
			maxPeers = 300 // beyond the inline tried bitmap
		}
		peers := randomPeers(r, maxPeers)
		mode := Consistent
		if r.IntN(2) == 0 {
			mode = Plain
		}
		tab, err := New(mode, peers)
		if err != nil {
			t.Fatal(err)
		}
		m := newNgxModel(mode, peers)
		h := make(states, len(peers))
		for k := range 50 {
			randomStates(r, h)
			key := []byte(fmt.Sprintf("127.%d.%d.%d", r.IntN(256), r.IntN(256), r.IntN(256)))
			if k%17 == 0 {
				key = nil
			}
			var a Attempt
			tab.Start(&a, key)
			ma := m.start(key)
			for step := 0; ; step++ {
				if r.IntN(4) == 0 {
					randomStates(r, h) // health changes between connect attempts
				}
				got, want := tab.Next(&a, h), m.next(ma, h)
				calls++
				if got != want {
					t.Fatalf("seed %d case %d (%v, %d peers %v) key %q step %d: Next = %d, nginx model %d",
						seed, c, mode, len(peers), peers, key, step, got, want)
				}
				if got < 0 {
					break
				}
				if step > len(peers) {
					t.Fatalf("seed %d: more picks than peers", seed)
				}
			}
		}
		cases++
	}
	t.Logf("seed %d: %d tables, %d Next calls agree with the nginx model", seed, cases, calls)
}
