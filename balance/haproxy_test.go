package balance

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"strings"
	"sync"
	"testing"

	"github.com/tether-proxy/tether/hashing"
	"github.com/tether-proxy/tether/internal/haproxytest"
)

// haServer is one server line of a random HAProxy backend.
type haServer struct {
	name     string
	weight   int
	id       int // 0: automatic
	backup   bool
	disabled bool
	addr     string
}

// haBackend is a random `balance source` backend.
type haBackend struct {
	name       string
	consistent bool
	servers    []haServer
}

// randomBackend draws a backend: 2 to 7 servers, weights mostly small but some up to HAProxy's
// 256, some explicit ids among automatic ones, backup and disabled servers. Variants 4 and 7
// have every primary disabled (the backups take over, HAProxy's first-backup rule), variant 5
// exactly one usable primary (HAProxy then does not hash).
func randomBackend(rng *rand.Rand, variant int) haBackend {
	b := haBackend{consistent: variant%2 == 1}
	n := 2 + rng.IntN(6)
	usedIDs := map[int]bool{}
	for i := range n {
		s := haServer{name: fmt.Sprintf("s%d", i), weight: 1 + rng.IntN(4)}
		switch r := rng.IntN(10); {
		case r == 0:
			s.weight = 256
		case r == 1:
			s.weight = 10 * (1 + rng.IntN(20))
		}
		if rng.IntN(10) < 3 {
			for s.id == 0 || usedIDs[s.id] {
				s.id = 1 + rng.IntN(3*n)
			}
			usedIDs[s.id] = true
		}
		s.backup = i > 0 && rng.IntN(5) == 0
		s.disabled = rng.IntN(7) == 0
		b.servers = append(b.servers, s)
	}
	b.servers[0].backup = false
	switch variant {
	case 4, 7:
		for i := range b.servers {
			b.servers[i].disabled = !b.servers[i].backup
		}
		b.servers = append(b.servers, haServer{name: "bk1", weight: 1 + rng.IntN(3), backup: true},
			haServer{name: "bk2", weight: 4 + rng.IntN(4), backup: true})
	case 5:
		for i := range b.servers {
			b.servers[i].disabled = i > 0 && !b.servers[i].backup
		}
	}
	b.name = fmt.Sprintf("variant%d-consistent=%v-%dservers", variant, b.consistent, len(b.servers))
	return b
}

// config returns the HAProxy sections of the backend behind a frontend on port that reads
// PROXY headers.
func (b haBackend) config(port int) string {
	var c strings.Builder
	fmt.Fprintf(&c, "frontend fe\n    bind 127.0.0.1:%d accept-proxy\n    default_backend be\n\nbackend be\n    balance source\n", port)
	if b.consistent {
		c.WriteString("    hash-type consistent\n")
	}
	for _, s := range b.servers {
		fmt.Fprintf(&c, "    %s\n", s.line())
	}
	return c.String()
}

// line is the server's HAProxy `server` line.
func (s haServer) line() string {
	l := fmt.Sprintf("server %s %s weight %d", s.name, s.addr, s.weight)
	if s.id != 0 {
		l += fmt.Sprintf(" id %d", s.id)
	}
	if s.backup {
		l += " backup"
	}
	if s.disabled {
		l += " disabled"
	}
	return l
}

// randomClients returns n distinct client addresses, 60% IPv4 and 40% IPv6 (some of those
// IPv4-mapped).
func randomClients(rng *rand.Rand, n int) []netip.Addr {
	seen := map[netip.Addr]bool{}
	var out []netip.Addr
	for len(out) < n {
		var a netip.Addr
		switch r := rng.IntN(10); {
		case r < 6:
			a = netip.AddrFrom4([4]byte{byte(1 + rng.IntN(223)), byte(rng.IntN(256)), byte(rng.IntN(256)), byte(1 + rng.IntN(254))})
		case r == 6:
			a = netip.AddrFrom16(netip.AddrFrom4([4]byte{10, byte(rng.IntN(256)), byte(rng.IntN(256)), byte(1 + rng.IntN(254))}).As16())
		default:
			var b [16]byte
			b[0], b[1] = 0x20, 0x01
			for i := 2; i < 16; i++ {
				b[i] = byte(rng.IntN(256))
			}
			a = netip.AddrFrom16(b)
		}
		if !seen[a] {
			seen[a] = true
			out = append(out, a)
		}
	}
	return out
}

// addressKey is the key tether hashes for a client whose address reaches it as src (from a
// PROXY header): 4 bytes for IPv4, 16 otherwise.
func addressKey(src netip.Addr) []byte {
	if src.Is4() {
		a := src.As4()
		return a[:]
	}
	a := src.As16()
	return a[:]
}

// configured is a State with the disabled servers down and every peer idle.
type configured []bool

func (c configured) State(i int) hashing.State {
	if c[i] {
		return hashing.Down
	}
	return hashing.Usable
}
func (configured) Conns(int) int { return 0 }

// TestSourceParityWithHAProxy: for random `balance source` backends, map-based and consistent
// (weights up to 256, explicit and automatic ids, backup and disabled servers, no primary left,
// a single usable primary), a real HAProxy 2.6 and tether's source and source-consistent
// balancers send each of 2,000 clients per backend, IPv4 and IPv6, to the same server. The
// clients' addresses reach HAProxy in PROXY protocol headers (`bind ... accept-proxy`).
func TestSourceParityWithHAProxy(t *testing.T) {
	haproxytest.Require(t)
	rng := rand.New(rand.NewPCG(26, 13))
	total := 0
	for variant := range 8 {
		b := randomBackend(rng, variant)
		clients := randomClients(rng, 2000)
		t.Run(b.name, func(t *testing.T) {
			for i := range b.servers {
				b.servers[i].addr = haproxytest.NameServer(t, b.servers[i].name)
			}
			port := haproxytest.Start(t, 1, func(p []int) string { return b.config(p[0]) })[0]
			bal, down := tetherBalancer(t, b)
			got := askAll(t, fmt.Sprintf("127.0.0.1:%d", port), clients)
			spread := map[string]int{}
			for i, src := range clients {
				var a hashing.Attempt
				bal.Start(&a, addressKey(src))
				want := "(none)"
				if p := bal.Next(&a, down); p >= 0 {
					want = b.servers[p].name
				}
				if got[i] != want {
					t.Fatalf("client %s: HAProxy chose %q, tether %q\nbackend:\n%s", src, got[i], want, b.config(port))
				}
				spread[want]++
			}
			total += len(clients)
			t.Logf("%d clients, HAProxy == tether; spread %v", len(clients), spread)
		})
	}
	t.Logf("%d choices equal", total)
}

// tetherBalancer builds tether's balancer for b and the State of its disabled servers.
func tetherBalancer(t *testing.T, b haBackend) (Balancer, configured) {
	t.Helper()
	var peers []Peer
	var down configured
	for _, s := range b.servers {
		peers = append(peers, Peer{Name: s.addr, Weight: s.weight, ID: s.id, Backup: s.backup, Down: s.disabled})
		down = append(down, s.disabled)
	}
	method := "source"
	if b.consistent {
		method = "source-consistent"
	}
	bal, err := New(method, peers, Options{})
	if err != nil {
		t.Fatal(err)
	}
	return bal, down
}

// askAll asks the proxy at addr for every client, eight at a time, and returns the server
// names in client order.
func askAll(t *testing.T, addr string, clients []netip.Addr) []string {
	t.Helper()
	got := make([]string, len(clients))
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	next := make(chan int)
	for range 8 {
		wg.Go(func() {
			for i := range next {
				name, err := haproxytest.Ask(addr, clients[i])
				if name == "" && err == nil {
					name = "(none)" // the proxy closed: no server usable
				}
				mu.Lock()
				if err != nil && firstErr == nil {
					firstErr = err
				}
				got[i] = name
				mu.Unlock()
			}
		})
	}
	for i := range clients {
		next <- i
	}
	close(next)
	wg.Wait()
	if firstErr != nil {
		t.Fatal(firstErr)
	}
	return got
}

// TestBalanceFactorParityWithHAProxy: with `hash-type consistent` and `hash-balance-factor
// 125`, a real HAProxy and tether's source-consistent balancer with balance_factor 125, each
// counting the tunnels held open, place 600 tunnels one after another, 40% of them from one
// address, on the same servers: the bound, its rounding and the walk past full servers are
// HAProxy's.
func TestBalanceFactorParityWithHAProxy(t *testing.T) {
	haproxytest.Require(t)
	names := []string{"s0", "s1", "s2", "s3", "s4"}
	weights := []int{1, 2, 1, 3, 1}
	var lines []string
	var peers []Peer
	for i, n := range names {
		addr := haproxytest.HoldServer(t, n)
		lines = append(lines, fmt.Sprintf("    server %s %s weight %d", n, addr, weights[i]))
		peers = append(peers, Peer{Name: addr, Weight: weights[i]})
	}
	port := haproxytest.Start(t, 1, func(p []int) string {
		return fmt.Sprintf("frontend fe\n    bind 127.0.0.1:%d accept-proxy\n    default_backend be\n\nbackend be\n    balance source\n    hash-type consistent\n    hash-balance-factor 125\n%s\n",
			p[0], strings.Join(lines, "\n"))
	})[0]
	bal, err := New("source-consistent", peers, Options{Factor: 125})
	if err != nil {
		t.Fatal(err)
	}
	free, err := New("source-consistent", peers, Options{})
	if err != nil {
		t.Fatal(err)
	}
	bounded := 0
	rng := rand.New(rand.NewPCG(125, 40))
	hot := netip.MustParseAddr("192.0.2.40")
	clients := randomClients(rng, 600)
	conns := make([]int, len(peers))
	spread := map[string]int{}
	for i, src := range clients {
		if rng.IntN(10) < 4 {
			src = hot
		}
		got, c, err := haproxytest.AskHold(fmt.Sprintf("127.0.0.1:%d", port), src)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		var a hashing.Attempt
		bal.Start(&a, addressKey(src))
		p := bal.Next(&a, fakeState{conns: conns})
		if names[p] != got {
			t.Fatalf("tunnel %d from %s: HAProxy chose %s, tether %s (open tunnels %v)", i, src, got, names[p], conns)
		}
		if free.Start(&a, addressKey(src)); free.Next(&a, fakeState{conns: conns}) != p {
			bounded++
		}
		conns[p]++
		spread[got]++
	}
	if bounded == 0 {
		t.Fatal("the bound never moved a tunnel: the test proves nothing")
	}
	t.Logf("600 tunnels, HAProxy == tether, %d of them placed past a full server; open tunnels by server %v", bounded, spread)
}
