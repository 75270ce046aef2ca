package balance

import (
	"testing"

	"github.com/tether-proxy/tether/hashing"
)

// FuzzBalancers builds every method over peers, states, tunnel counts and a key drawn from the
// input and checks that a whole attempt never panics, returns each peer at most once, never one
// that is down, and ends with -1; and that shares sum to 1 or to 0.
func FuzzBalancers(f *testing.F) {
	f.Add([]byte{3, 1, 0, 2, 4, 0, 1, 1, 1, 0, 10, 1, 2, 3})
	f.Add([]byte{8, 255, 1, 7, 0, 3, 2, 9, 9, 9, 1, 1, 127, 0, 0, 1})
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) < 2 || len(data) > 256 {
			return
		}
		n := 1 + int(data[0])%8
		data = data[1:]
		take := func() byte {
			if len(data) == 0 {
				return 0
			}
			b := data[0]
			data = data[1:]
			return b
		}
		var peers []Peer
		st := make([]hashing.State, n)
		conns := make([]int, n)
		for i := range n {
			flags := take()
			p := Peer{Name: string(rune('a' + i)), Weight: 1 + int(take()), Backup: flags&1 != 0, Down: flags&2 != 0}
			if flags&4 != 0 {
				p.ID = 1 + int(take())%12
			}
			peers = append(peers, p)
			st[i] = hashing.State(flags >> 3 % 4)
			if p.Down {
				st[i] = hashing.Down
			}
			conns[i] = int(take()) % 50
		}
		key := data
		for _, name := range Names() {
			for _, factor := range []int{0, 100 + int(take())} {
				b, err := New(name, peers, Options{Factor: factor})
				if err != nil {
					continue
				}
				var a hashing.Attempt
				b.Start(&a, key)
				seen := map[int]bool{}
				for range n + 1 {
					p := b.Next(&a, fakeState{st, conns})
					if p < 0 {
						break
					}
					if p >= n || seen[p] || st[p] == hashing.Down {
						t.Fatalf("%s: Next gave %d (seen %v, states %v)", name, p, seen, st)
					}
					seen[p] = true
				}
				if b.Next(&a, fakeState{st, conns}) != -1 && len(seen) == n {
					t.Fatalf("%s: Next gave more than %d peers", name, n)
				}
				sum := 0.0
				for _, s := range b.Shares() {
					sum += s
				}
				if sum != 0 && (sum < 0.999 || sum > 1.001) {
					t.Fatalf("%s: shares sum to %v", name, sum)
				}
			}
		}
	})
}
