package hashing

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"
	"testing"
)

func mustNew(t testing.TB, mode Mode, peers ...Peer) *Table {
	t.Helper()
	tab, err := New(mode, peers)
	if err != nil {
		t.Fatal(err)
	}
	return tab
}

func p(name string, weight int) Peer { return Peer{Name: name, Weight: weight} }

func backup(name string) Peer { return Peer{Name: name, Weight: 1, Backup: true} }

func allUsable(n int) states { return make(states, n) }

// sequence returns the peers Next returns for key until it returns -1.
func sequence(tab *Table, key string, h Health) []int {
	var a Attempt
	tab.Start(&a, []byte(key))
	var seq []int
	for {
		i := tab.Next(&a, h)
		if i < 0 {
			return seq
		}
		seq = append(seq, i)
	}
}

func key(i int) string { return fmt.Sprintf("127.%d.%d.%d", i>>16&255, i>>8&255, i&255) }

func TestNewErrors(t *testing.T) {
	tests := []struct {
		name  string
		mode  Mode
		peers []Peer
	}{
		{"empty", Consistent, nil},
		{"only backup", Plain, []Peer{backup("a:1")}},
		{"weight 0", Consistent, []Peer{p("a:1", 0)}},
		{"negative weight", Plain, []Peer{p("a:1", 1), p("b:1", -1)}},
		{"too heavy", Consistent, []Peer{p("a:1", 1<<16), p("b:1", 1)}},
		{"bad mode", 0, []Peer{p("a:1", 1)}},
	}
	for _, tt := range tests {
		if _, err := New(tt.mode, tt.peers); err == nil {
			t.Errorf("%s: New succeeded", tt.name)
		}
	}
	if _, err := New(Plain, nil); !errors.Is(err, ErrNoPeers) {
		t.Errorf("empty list: %v, want ErrNoPeers", err)
	}
}

func TestSplitHostPort(t *testing.T) {
	tests := []struct{ name, host, port string }{
		{"localhost:3002", "localhost", "3002"},
		{"127.0.0.1:80", "127.0.0.1", "80"},
		{"[::1]:80", "[::1]", "80"},
		{"example.com", "example.com", ""},
		{"a:b", "a:b", ""},
		{"host:", "host", ""},
		{":80", "", "80"},
		{"unix:/run/s.sock", "/run/s.sock", ""},
		{"UNIX:/x:80", "/x:80", ""},
		{"", "", ""},
	}
	for _, tt := range tests {
		if h, p := splitHostPort(tt.name); h != tt.host || p != tt.port {
			t.Errorf("splitHostPort(%q) = %q, %q; want %q, %q", tt.name, h, p, tt.host, tt.port)
		}
	}
}

// TestConsistentFailover checks that retries walk the ring clockwise to the next server name
// not tried yet, skipping Down, Failed and Full peers, and that the ring never yields a backup.
func TestConsistentFailover(t *testing.T) {
	tab := mustNew(t, Consistent, p("10.0.0.1:80", 1), p("10.0.0.2:80", 2), p("10.0.0.3:80", 1),
		p("10.0.0.4:80", 1), backup("10.0.0.9:80"))
	for _, st := range []State{Down, Failed, Full} {
		h := states{Usable, st, Usable, Usable, Usable}
		for k := range 300 {
			var a Attempt
			tab.Start(&a, []byte(key(k)))
			// Expected: distinct names in ring order from the key's point, skipping peer 1.
			var want []int
			for j := range len(tab.ring) {
				g := tab.groups[tab.owner[(int(a.hash)+j)%len(tab.ring)]][0]
				if g != 1 && !slices.Contains(want, g) {
					want = append(want, g)
				}
			}
			want = append(want, 4) // then round robin: the primaries are used up, so the backup
			if got := sequence(tab, key(k), h); !slices.Equal(got, want) {
				t.Fatalf("peer 1 %v, key %s: sequence %v, want %v", st, key(k), got, want)
			}
		}
	}
}

// TestDownLikeRemoved checks the measured nginx fact that in consistent mode a down server
// maps exactly like a removed one (absent ring-point collisions).
func TestDownLikeRemoved(t *testing.T) {
	full := mustNew(t, Consistent, p("a:1", 1), p("b:1", 2), p("c:1", 1), p("d:1", 3))
	removed := mustNew(t, Consistent, p("a:1", 1), p("b:1", 2), p("d:1", 3))
	h := states{Usable, Usable, Down, Usable}
	moved := 0
	for k := range 2000 {
		got := full.Peers()[full.Lookup([]byte(key(k)), h)].Name
		want := removed.Peers()[removed.Lookup([]byte(key(k)), allUsable(3))].Name
		if got != want {
			t.Fatalf("key %s: %s with c down, %s with c removed", key(k), got, want)
		}
		if full.Peers()[full.Lookup([]byte(key(k)), allUsable(4))].Name != got {
			moved++
		}
	}
	if moved == 0 || moved > 600 {
		t.Errorf("%d of 2000 keys moved when c (1/7 of the weight) went down", moved)
	}
}

func TestPlainFailover(t *testing.T) {
	tab := mustNew(t, Plain, p("a:1", 1), p("b:1", 1), p("c:1", 2))
	for k := range 300 {
		h := states{Usable, Failed, Usable}
		seq := sequence(tab, key(k), h)
		if len(seq) != 2 || slices.Contains(seq, 1) || seq[0] == seq[1] {
			t.Fatalf("key %s: sequence %v, want a and c once each", key(k), seq)
		}
		// The first pick is the weight walk of (crc32(key) >> 16) & 0x7fff, by hand.
		var w uint32
		for i := uint64(0); ; i++ {
			var pre []byte
			if i > 0 {
				pre = fmt.Appendf(nil, "%d", i)
			}
			w += (crcUpdate(0, append(pre, key(k)...)) >> 16) & 0x7fff
			if idx := []int{0, 1, 2, 2}[w%4]; idx != 1 {
				if seq[0] != idx {
					t.Fatalf("key %s: first %d, want %d", key(k), seq[0], idx)
				}
				break
			}
		}
	}
}

// TestFallbackAfter20Tries: with most of the weight down, the plain walk misses 21 times
// for some keys and nginx falls back to smooth weighted round robin over the primaries.
func TestFallbackAfter20Tries(t *testing.T) {
	peers := []Peer{p("up1:1", 1), p("up2:1", 1)}
	for i := range 40 {
		peers = append(peers, p(fmt.Sprintf("down%d:1", i), 1))
	}
	h := allUsable(len(peers))
	for i := 2; i < len(peers); i++ {
		h[i] = Down
	}
	for _, mode := range []Mode{Plain, Consistent} {
		tab := mustNew(t, mode, peers...)
		fell := 0
		var rr []int
		for k := range 500 {
			var a Attempt
			tab.Start(&a, []byte(key(k)))
			got := tab.Next(&a, h)
			if got != 0 && got != 1 {
				t.Fatalf("%v key %s: got peer %d (down)", mode, key(k), got)
			}
			if a.tries > maxTries {
				fell++
				rr = append(rr, got)
			}
		}
		if fell == 0 {
			t.Fatalf("%v: no key fell back to round robin", mode)
		}
		// Round robin over two equal usable peers alternates, starting with the first.
		for i, got := range rr {
			if got != i%2 {
				t.Fatalf("%v: round-robin picks %v do not alternate", mode, rr)
			}
		}
		t.Logf("%v: %d of 500 keys fell back to round robin", mode, fell)
	}
}

func TestEmptyKeyRoundRobin(t *testing.T) {
	for _, mode := range []Mode{Consistent, Plain} {
		tab := mustNew(t, mode, p("a:1", 1), p("b:1", 2))
		var got []int
		for range 6 {
			got = append(got, tab.Lookup(nil, allUsable(2)))
		}
		// nginx smooth weighted round robin for weights 1, 2.
		if want := []int{1, 0, 1, 1, 0, 1}; !slices.Equal(got, want) {
			t.Errorf("%v: empty-key picks %v, want %v", mode, got, want)
		}
	}
}

func TestSinglePeer(t *testing.T) {
	for _, mode := range []Mode{Consistent, Plain} {
		tab := mustNew(t, mode, p("only:1", 1))
		tests := []struct {
			st   State
			want []int
		}{
			{Usable, []int{0}},
			{Failed, []int{0}}, // nginx does not look at failures for a single peer
			{Full, nil},
			{Down, nil},
		}
		for _, tt := range tests {
			if got := sequence(tab, "127.0.0.1", states{tt.st}); !slices.Equal(got, tt.want) {
				t.Errorf("%v single peer %v: %v, want %v", mode, tt.st, got, tt.want)
			}
		}
	}
}

func TestBackupOnlyInFallback(t *testing.T) {
	for _, mode := range []Mode{Consistent, Plain} {
		// One primary and a backup is not nginx's "single": failures count.
		tab := mustNew(t, mode, p("a:1", 1), backup("b:1"), backup("c:1"))
		for k := range 200 {
			if got := sequence(tab, key(k), allUsable(3)); !slices.Equal(got, []int{0, 1, 2}) {
				t.Fatalf("%v: sequence %v, want [0 1 2]", mode, got)
			}
			if got := sequence(tab, key(k), states{Failed, Usable, Usable}); len(got) != 2 || got[0] == 0 {
				t.Fatalf("%v primary failed: sequence %v, want the two backups", mode, got)
			}
		}
		if s := tab.Shares(); s[1] != 0 || s[2] != 0 || s[0] != 1 {
			t.Errorf("%v shares %v: backups must get nothing", mode, s)
		}
	}
}

func TestAllDown(t *testing.T) {
	for _, mode := range []Mode{Consistent, Plain} {
		tab := mustNew(t, mode, p("a:1", 1), p("b:1", 1), backup("c:1"))
		h := states{Down, Full, Down}
		var a Attempt
		tab.Start(&a, []byte("127.0.0.1"))
		for range 3 {
			if got := tab.Next(&a, h); got != -1 {
				t.Fatalf("%v: Next = %d, want -1", mode, got)
			}
		}
	}
}

// TestCollision uses two servers whose rings share point 1536724721 (see
// testdata/nginx-hash/edge-collision-*.jsonl): the server listed first owns it.
func TestCollision(t *testing.T) {
	const shared = 1536724721
	for _, names := range [][2]string{{"127.0.8.123:9601", "127.0.8.189:9601"}, {"127.0.8.189:9601", "127.0.8.123:9601"}} {
		tab := mustNew(t, Consistent, p(names[0], 1), p(names[1], 1))
		if len(tab.ring) != 2*160-1 {
			t.Fatalf("%v: %d ring points, want 319", names, len(tab.ring))
		}
		i := tab.findPoint(shared)
		if tab.ring[i] != shared || tab.owner[i] != 0 {
			t.Fatalf("%v: point %d owned by group %d, want the first server", names, tab.ring[i], tab.owner[i])
		}
	}
}

func TestDuplicates(t *testing.T) {
	// Consistent: a repeated line adds no points; its peers share the name's points.
	c := mustNew(t, Consistent, p("a:1", 1), p("a:1", 1), p("b:1", 1))
	one := mustNew(t, Consistent, p("a:1", 1), p("b:1", 1))
	if !slices.Equal(c.ring, one.ring) {
		t.Fatal("a duplicated line changed the ring")
	}
	s := c.Shares()
	if math.Abs(s[0]-s[1]) > 1e-12 {
		t.Errorf("duplicates get shares %v and %v, want equal", s[0], s[1])
	}
	// Both copies are used, alternately, and a retry moves to the other copy first.
	seen := map[int]int{}
	for k := range 400 {
		seq := sequence(c, key(k), allUsable(3))
		seen[seq[0]]++
		if seq[0] != 2 && (seq[1] != 1-seq[0]) {
			t.Fatalf("key %s: sequence %v, want the other copy of a:1 second", key(k), seq)
		}
	}
	if d := seen[0] - seen[1]; seen[0] == 0 || d > 10 || d < -10 {
		t.Errorf("copies of a:1 first-picked %d and %d times, want about equal", seen[0], seen[1])
	}
	// A larger weight on the second line extends the name's chain.
	heavy := mustNew(t, Consistent, p("a:1", 1), p("a:1", 3))
	if len(heavy.ring) != 480 {
		t.Errorf("weights 1 and 3 for one name: %d points, want 480", len(heavy.ring))
	}
	// Plain: a repeated line counts twice in the total weight.
	pl := mustNew(t, Plain, p("a:1", 1), p("a:1", 1), p("b:1", 1))
	if pl.total != 3 {
		t.Errorf("plain total weight %d, want 3", pl.total)
	}
}

func TestShares(t *testing.T) {
	peers := []Peer{p("a:1", 1), p("b:1", 2), p("c:1", 3), p("d:1", 1), backup("e:1")}
	for _, mode := range []Mode{Consistent, Plain} {
		s := mustNew(t, mode, peers...).Shares()
		sum := 0.0
		for _, v := range s {
			sum += v
		}
		if math.Abs(sum-1) > 1e-9 {
			t.Errorf("%v: shares %v sum to %v", mode, s, sum)
		}
		if s[4] != 0 || s[2] < s[0] {
			t.Errorf("%v: shares %v", mode, s)
		}
	}
	if s := mustNew(t, Plain, peers...).Shares(); s[1] != 2.0/7 {
		t.Errorf("plain share of weight 2 of 7: %v", s[1])
	}
	// The consistent share is what keys actually see.
	tab := mustNew(t, Consistent, peers...)
	s := tab.Shares()
	counts := make([]float64, len(peers))
	const n = 20000
	for k := range n {
		counts[tab.Lookup([]byte(key(k)), allUsable(len(peers)))]++
	}
	for i := range counts {
		if math.Abs(counts[i]/n-s[i]) > 0.02 {
			t.Errorf("peer %d: %.3f of keys, share %.3f", i, counts[i]/n, s[i])
		}
	}
}

func TestManyPeers(t *testing.T) {
	var peers []Peer
	for i := range 300 {
		peers = append(peers, p(fmt.Sprintf("10.0.%d.%d:80", i/256, i%256), 1))
	}
	for _, mode := range []Mode{Consistent, Plain} {
		tab := mustNew(t, mode, peers...)
		seq := sequence(tab, "127.1.2.3", allUsable(len(peers)))
		if len(seq) != len(peers) {
			t.Fatalf("%v: %d picks, want %d", mode, len(seq), len(peers))
		}
		slices.Sort(seq)
		if len(slices.Compact(seq)) != len(peers) {
			t.Fatalf("%v: a peer was returned twice", mode)
		}
	}
}

func TestNextZeroAllocs(t *testing.T) {
	for _, mode := range []Mode{Consistent, Plain} {
		tab := mustNew(t, mode, p("a:1", 1), p("b:1", 2), p("c:1", 1), Peer{Name: "c:1", Weight: 1})
		h := &staticHealth{allUsable(4)}
		k := []byte("127.9.8.7")
		n := testing.AllocsPerRun(200, func() {
			var a Attempt
			tab.Start(&a, k)
			tab.Next(&a, h)
			tab.Next(&a, h)
		})
		if n != 0 {
			t.Errorf("%v: %v allocs per Start+Next", mode, n)
		}
	}
}

// staticHealth is a pointer Health: converting it to the interface does not allocate.
type staticHealth struct{ s states }

func (h *staticHealth) State(i int) State { return h.s[i] }

func TestNextWithoutStartPanics(t *testing.T) {
	tab := mustNew(t, Plain, p("a:1", 1))
	defer func() {
		if recover() == nil {
			t.Error("Next on a zero Attempt did not panic")
		}
	}()
	var a Attempt
	tab.Next(&a, allUsable(1))
}

// TestConcurrent runs lookups on names with several addresses (which take the round-robin
// lock) from many goroutines; run with -race.
func TestConcurrent(t *testing.T) {
	tab := mustNew(t, Consistent, p("a:1", 1), p("a:1", 1), p("b:1", 2), p("b:1", 2), p("c:1", 1))
	h := states{Usable, Usable, Usable, Failed, Usable}
	var wg sync.WaitGroup
	counts := make([][5]int, 8)
	for g := range counts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := range 500 {
				var a Attempt
				tab.Start(&a, []byte(key(k)))
				for i := tab.Next(&a, h); i >= 0; i = tab.Next(&a, h) {
					counts[g][i]++
				}
			}
		}()
	}
	wg.Wait()
	for g := range counts {
		if counts[g][3] != 0 {
			t.Fatalf("failed peer picked %d times", counts[g][3])
		}
		if n := counts[g][0] + counts[g][1] + counts[g][2] + counts[g][4]; n != 4*500 {
			t.Fatalf("goroutine %d: %d picks, want %d", g, n, 4*500)
		}
	}
}
