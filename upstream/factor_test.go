package upstream

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"testing"
)

// pipeDialer connects to nothing: each dial returns one end of an in-memory pipe.
type pipeDialer struct{ ends []net.Conn }

func (d *pipeDialer) DialContext(context.Context, string, string) (net.Conn, error) {
	a, b := net.Pipe()
	d.ends = append(d.ends, a, b)
	return a, nil
}

// TestBalanceFactorSkewedClients: with balance_factor = 125 (HAProxy hash-balance-factor) and
// 40% of 1,000 tunnels from one address, no backend ever holds more than its bound (125% of an
// even share of the open tunnels, in HAProxy's slots), and a client outside the hot spot gets
// the backend the unbounded method gives it (nginx's for hash-consistent, HAProxy's for
// source-consistent) unless that backend is at its bound when it connects. Most keep it: the
// hot spot's overflow fills one neighbour on the ring, whose own new clients then move.
func TestBalanceFactorSkewedClients(t *testing.T) {
	for _, method := range []string{"hash-consistent", "source-consistent"} {
		t.Run(method, func(t *testing.T) {
			servers := `servers = ["10.0.0.1:1", "10.0.0.2:1", "10.0.0.3:1", "10.0.0.4:1"]`
			bounded := parseUpstream(t, fmt.Sprintf("balance = %q\nbalance_factor = 125\n%s\n", method, servers))
			plain := parseUpstream(t, fmt.Sprintf("balance = %q\n%s\n", method, servers))
			p, err := New(context.Background(), bounded, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			ref, err := New(context.Background(), plain, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			d := &pipeDialer{}
			defer func() {
				for _, c := range d.ends {
					c.Close()
				}
			}()
			log, _ := newLog()
			rng := rand.New(rand.NewPCG(40, 125))
			hot := netip.MustParseAddr("203.0.113.7")
			hotBackend := ref.Lookup(ref.AppendKey(nil, hot, false)).String()
			kept, moved, hotMoved, total := 0, 0, 0, 0
			for i := range 1000 {
				ip := hot
				if rng.IntN(10) >= 4 {
					ip = netip.AddrFrom4([4]byte{198, 51, byte(i / 250), byte(1 + i%250)})
				}
				want := ref.Lookup(ref.AppendKey(nil, ip, false)).String()
				full := false
				for i, peer := range p.Peers() {
					if peer.String() == want {
						full = peer.Conns() >= slots(i, total)
					}
				}
				key := p.AppendKey(nil, ip, false)
				_, lease, err := p.Connect(context.Background(), key, d, log)
				if err != nil {
					t.Fatal(err)
				}
				defer lease.Release()
				total++
				for i, peer := range p.Peers() {
					if limit := slots(i, total-1); peer.Conns() > limit {
						t.Fatalf("after %d tunnels %s holds %d, above its bound %d", total, peer, peer.Conns(), limit)
					}
				}
				switch {
				case ip == hot:
				case lease.String() == want:
					kept++
				case !full:
					t.Fatalf("client %s: sent to %s although its backend %s was below its bound", ip, lease, want)
				case want == hotBackend:
					hotMoved++
				default:
					moved++
				}
			}
			spread := map[string]int{}
			for _, peer := range p.Peers() {
				spread[peer.String()] = peer.Conns()
			}
			t.Logf("hot backend %s; %d other clients kept their backend; moved, their backend full: %d of the hot backend, %d of others; tunnels %v",
				hotBackend, kept, hotMoved, moved, spread)
		})
	}
}

// slots is HAProxy's bound (chash_server_is_eligible) for peer i of four equal peers once
// served+1 tunnels are open with balance_factor 125.
func slots(i, served int) int {
	tot := ((served+1)*125 + 99) / 100
	per, rem := tot/4, tot%4
	return max(per+((i+1)*rem)/4-(i*rem)/4, 1)
}

// TestLeastConnCountsLiveTunnels: balance = "least-conn" reads the pool's open tunnels: a new
// tunnel goes to the backend with the fewest per unit of weight, and a released tunnel makes its
// backend the choice again.
func TestLeastConnCountsLiveTunnels(t *testing.T) {
	u := parseUpstream(t, "balance = \"least-conn\"\nservers = [\"10.0.0.1:1 weight=2\", \"10.0.0.2:1\"]\n")
	p, err := New(context.Background(), u, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if key := p.AppendKey(nil, netip.MustParseAddr("192.0.2.1"), false); len(key) != 0 {
		t.Fatalf("least-conn reads a key: %q", key)
	}
	d := &pipeDialer{}
	defer func() {
		for _, c := range d.ends {
			c.Close()
		}
	}()
	log, _ := newLog()
	var leases []*Lease
	var got []string
	for range 6 {
		_, l, err := p.Connect(context.Background(), nil, d, log)
		if err != nil {
			t.Fatal(err)
		}
		leases = append(leases, l)
		got = append(got, l.String())
	}
	// Held tunnels per unit of weight stay level: weight 2 holds twice as many.
	counts := map[string]int{}
	for _, g := range got {
		counts[g]++
	}
	if counts["10.0.0.1:1"] != 4 || counts["10.0.0.2:1"] != 2 {
		t.Fatalf("six tunnels went %v (%v), want 4 and 2 by weight", counts, got)
	}
	for _, l := range leases {
		if l.String() == "10.0.0.2:1" {
			l.Release()
			break
		}
	}
	_, l, err := p.Connect(context.Background(), nil, d, log)
	if err != nil {
		t.Fatal(err)
	}
	if l.String() != "10.0.0.2:1" {
		t.Errorf("after a release on 10.0.0.2:1 the next tunnel went to %s", l)
	}
	for _, l := range append(leases, l) {
		l.Release()
	}
}
