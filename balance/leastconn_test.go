package balance

import (
	"slices"
	"testing"

	"github.com/tether-proxy/tether/hashing"
)

// fakeState is a State from fixed per-peer states and tunnel counts.
type fakeState struct {
	st    []hashing.State
	conns []int
}

func (f fakeState) State(i int) hashing.State {
	if f.st == nil {
		return hashing.Usable
	}
	return f.st[i]
}
func (f fakeState) Conns(i int) int { return f.conns[i] }

// TestLeastConn pins nginx least_conn's choice (ngx_stream_upstream_get_least_conn_peer): the
// fewest tunnels per unit of weight, ties broken by smooth weighted round robin over the tied
// peers from the first of them, unusable and tried peers skipped, backups only when no primary
// is usable, and a single primary returned even when failed.
func TestLeastConn(t *testing.T) {
	U, D, F, X := hashing.Usable, hashing.Down, hashing.Failed, hashing.Full
	tests := []struct {
		name  string
		peers []Peer
		st    []hashing.State
		conns []int
		want  []int // successive first picks, each on a new attempt, conns unchanged
	}{
		{"fewest tunnels", peers(1, 1, 1), nil, []int{3, 1, 2}, []int{1, 1}},
		{"weights scale the count", peers(1, 2), nil, []int{2, 3}, []int{1}},
		{"weighted tie goes to smooth round robin 1:2", peers(1, 2), nil, []int{0, 0}, []int{1, 0, 1, 1, 0, 1}},
		{"tie among later peers starts at the first of them", peers(1, 1, 1), nil, []int{1, 0, 0}, []int{1, 2, 1, 2}},
		{"down, failed and full peers are skipped", peers(1, 1, 1, 1), []hashing.State{D, F, X, U}, []int{0, 0, 0, 5}, []int{3}},
		{"backups only when no primary is usable", append(peers(1, 1), Peer{Name: "b", Weight: 1, Backup: true}), []hashing.State{D, F, U}, []int{0, 0, 9}, []int{2}},
		{"a single primary is taken even when failed", peers(1), []hashing.State{F}, []int{0}, []int{0}},
		{"a single primary that is down gives none", peers(1), []hashing.State{D}, []int{0}, []int{-1}},
		{"nothing usable gives none", peers(1, 1), []hashing.State{D, X}, []int{0, 0}, []int{-1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, err := New("least-conn", tc.peers, Options{})
			if err != nil {
				t.Fatal(err)
			}
			s := fakeState{tc.st, tc.conns}
			var got []int
			for range tc.want {
				var a hashing.Attempt
				b.Start(&a, nil)
				got = append(got, b.Next(&a, s))
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("picks %v, want %v", got, tc.want)
			}
		})
	}
}

// TestLeastConnRetry pins that a retry after a failed connect takes the next least loaded peer,
// never one already tried, and ends after every peer was tried.
func TestLeastConnRetry(t *testing.T) {
	b, err := New("least-conn", peers(1, 1, 1), Options{})
	if err != nil {
		t.Fatal(err)
	}
	s := fakeState{conns: []int{2, 0, 1}}
	var a hashing.Attempt
	b.Start(&a, nil)
	var got []int
	for range 4 {
		got = append(got, b.Next(&a, s))
	}
	if want := []int{1, 2, 0, -1}; !slices.Equal(got, want) {
		t.Errorf("picks %v, want %v", got, want)
	}
}

// peers returns primary peers of the given weights, named p0, p1, ...
func peers(weights ...int) []Peer {
	ps := make([]Peer, len(weights))
	for i, w := range weights {
		ps[i] = Peer{Name: "p" + string(rune('0'+i)), Weight: w}
	}
	return ps
}

// TestHAProxyIDs pins HAProxy's automatic server ids: explicit ids are kept, the others take
// the first free id from a counter that advances past every server, numbered or not.
func TestHAProxyIDs(t *testing.T) {
	tests := []struct{ in, want []int }{
		{[]int{0, 0, 0}, []int{1, 2, 3}},
		{[]int{5, 0, 0}, []int{5, 2, 3}}, // id 1 is never used: the counter passed it
		{[]int{0, 2, 0, 0}, []int{1, 2, 3, 4}},
		{[]int{0, 0, 1, 0}, []int{2, 3, 1, 5}}, // the counter passed 4 on the numbered server
		{[]int{3, 0, 0, 0}, []int{3, 2, 4, 5}},
	}
	for _, tc := range tests {
		got, err := HAProxyIDs(tc.in)
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("HAProxyIDs(%v) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
	if _, err := HAProxyIDs([]int{4, 4}); err == nil {
		t.Error("duplicate ids accepted")
	}
}

// TestSourceRetryIsHAProxyWithServerDown pins what a retry after a failed connect gives with
// the HAProxy methods: the server HAProxy chooses once the failed one is down (out of the map,
// which is rebuilt, or out of the tree), the choice the parity tests check against HAProxy with
// `disabled` servers.
func TestSourceRetryIsHAProxyWithServerDown(t *testing.T) {
	ps := []Peer{{Name: "a", Weight: 3}, {Name: "b", Weight: 1, ID: 9}, {Name: "c", Weight: 2}, {Name: "d", Weight: 1}, {Name: "e", Weight: 1, Backup: true}}
	for _, method := range []string{"source", "source-consistent"} {
		b, err := New(method, ps, Options{})
		if err != nil {
			t.Fatal(err)
		}
		for i := range 500 {
			key := []byte{10, byte(i >> 8), byte(i), 7}
			var a hashing.Attempt
			b.Start(&a, key)
			up := fakeState{conns: make([]int, len(ps))}
			first := b.Next(&a, up)
			second := b.Next(&a, up)
			down := fakeState{st: make([]hashing.State, len(ps)), conns: up.conns}
			down.st[first] = hashing.Down
			var fresh hashing.Attempt
			b.Start(&fresh, key)
			if want := b.Next(&fresh, down); second != want {
				t.Fatalf("%s key %v: retry after %s gave %s, HAProxy with %s down gives %s", method, key, ps[first].Name, ps[second].Name, ps[first].Name, ps[want].Name)
			}
		}
	}
}
