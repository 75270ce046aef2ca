package bench

import (
	"fmt"
	"net/netip"
	"testing"

	"github.com/tether-proxy/tether/hashing"
)

// allUsable is the Health of an upstream whose peers are all up: the common case.
type allUsable struct{}

func (allUsable) State(int) hashing.State { return hashing.Usable }

// tenPeers is an upstream of 10 servers with weights 1-3, like a small Socket.io cluster.
func tenPeers(tb testing.TB, mode hashing.Mode) *hashing.Table {
	tb.Helper()
	var peers []hashing.Peer
	for i := range 10 {
		peers = append(peers, hashing.Peer{Name: fmt.Sprintf("10.0.0.%d:3000", i+1), Weight: 1 + i%3})
	}
	t, err := hashing.New(mode, peers)
	if err != nil {
		tb.Fatal(err)
	}
	return t
}

// clientIPs are 1024 distinct IPv4 clients.
func clientIPs() []netip.Addr {
	ips := make([]netip.Addr, 1024)
	for i := range ips {
		ips[i] = netip.AddrFrom4([4]byte{203, 0, byte(i >> 8), byte(i)})
	}
	return ips
}

// lookup is what listener does per connection to pick the first backend: spell the client
// address like nginx's $remote_addr, start the attempt, take the first peer.
func lookup(t *hashing.Table, ip netip.Addr, a *hashing.Attempt) int {
	var buf [64]byte
	key := hashing.AppendRemoteAddr(buf[:0], ip, false)
	t.Start(a, key)
	return t.Next(a, allUsable{})
}

var modes = []struct {
	name string
	mode hashing.Mode
}{{"consistent", hashing.Consistent}, {"plain", hashing.Plain}}

// BenchmarkHashLookup is the backend choice of one connection over 10 peers, from the client
// address to the peer index. Target (issue 3): <= 50 ns/op, 0 allocs/op.
func BenchmarkHashLookup(b *testing.B) {
	ips := clientIPs()
	for _, m := range modes {
		b.Run(m.name, func(b *testing.B) {
			t := tenPeers(b, m.mode)
			var a hashing.Attempt
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				if lookup(t, ips[i&1023], &a) < 0 {
					b.Fatal("no peer")
				}
			}
		})
	}
}

// TestHashLookup: every peer is chosen for some client (the benchmark walks the whole ring,
// not one hot spot), and a lookup does not allocate.
func TestHashLookup(t *testing.T) {
	ips := clientIPs()
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			tab := tenPeers(t, m.mode)
			var a hashing.Attempt
			seen := make(map[int]bool)
			for _, ip := range ips {
				p := lookup(tab, ip, &a)
				if p < 0 || p >= 10 {
					t.Fatalf("lookup(%s) = %d, want a peer index", ip, p)
				}
				seen[p] = true
			}
			if len(seen) != 10 {
				t.Errorf("%d clients reached %d of 10 peers", len(ips), len(seen))
			}
			if allocs := testing.AllocsPerRun(100, func() { lookup(tab, ips[7], &a) }); allocs != 0 {
				t.Errorf("%.1f allocations per lookup, want 0", allocs)
			}
		})
	}
}
