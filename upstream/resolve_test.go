package upstream

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/tether-proxy/tether/conf"
	"github.com/tether-proxy/tether/internal/dnsmasqtest"
)

// addrsOf returns the dial addresses of the pool's peers of server name.
func addrsOf(p *Pool, name string) []string {
	var out []string
	for _, peer := range p.Peers() {
		if peer.Server.Name == name {
			out = append(out, peer.String())
		}
	}
	slices.Sort(out)
	return out
}

// routes maps many client keys to the peer (and its server name) Lookup gives.
func routes(p *Pool) (peers map[string]*Peer, names map[string]string) {
	peers, names = map[string]*Peer{}, map[string]string{}
	for i := range 3000 {
		k := fmt.Sprintf("10.%d.%d.%d", i/65536, i/256%256, i%256)
		peer := p.Lookup([]byte(k))
		peers[k], names[k] = peer, peer.Server.Name
	}
	return peers, names
}

// TestResolveFollowsDNS changes the answers of a real DNS server under a running pool: the
// `resolve` server's address set follows, each way of resolving on its own schedule (the TTL
// with tether's DNS client, resolve_interval with the system resolver), and with consistent
// hashing no client changes server name: clients of the other servers keep their exact peer,
// and only the clients of the removed address move, to another address of the same name.
func TestResolveFollowsDNS(t *testing.T) {
	for _, tc := range []struct {
		name     string
		resolver bool // tether's DNS client asks dnsmasq; otherwise Go's resolver does
		extra    string
	}{
		{"DNS client, TTL", true, ""},
		{"system resolver, resolve_interval", false, "resolve_interval = \"100ms\"\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := dnsmasqtest.Start(t, dnsmasqtest.Options{TTL: 1}, map[string][]string{"app.test": {"127.0.0.11", "127.0.0.12"}})
			body := `servers = ["127.0.0.1:3001", "app.test:3002 resolve", "127.0.0.2:3003"]` + "\n" + tc.extra
			if tc.resolver {
				body += fmt.Sprintf("resolver = %q\n", srv.Addr)
			}
			p, err := New(context.Background(), parseUpstream(t, body), srv.Resolver(), nil)
			if err != nil {
				t.Fatal(err)
			}
			if got := addrsOf(p, "app.test:3002"); !slices.Equal(got, []string{"127.0.0.11:3002", "127.0.0.12:3002"}) {
				t.Fatalf("initial addresses %v", got)
			}
			log, logs := newLog()
			p.Start(context.Background(), log)
			defer checkNoLeaks(t)
			defer p.Close()
			kept := p.Peers()[1] // 127.0.0.11:3002
			beforePeers, beforeNames := routes(p)
			sharesBefore := nameShares(p)

			srv.Set(map[string][]string{"app.test": {"127.0.0.11", "127.0.0.13"}})
			waitFor(t, "the new address set", func() bool {
				return slices.Equal(addrsOf(p, "app.test:3002"), []string{"127.0.0.11:3002", "127.0.0.13:3002"})
			})
			if p.Peers()[1] != kept {
				t.Error("the address that stayed got a new peer (its state would be lost)")
			}
			afterPeers, afterNames := routes(p)
			moved := 0
			for k, name := range beforeNames {
				if afterNames[k] != name {
					t.Fatalf("client %s moved from server %s to %s: the ring changed", k, name, afterNames[k])
				}
				if name != "app.test:3002" && afterPeers[k] != beforePeers[k] {
					t.Fatalf("client %s of server %s changed peer", k, name)
				}
				if beforePeers[k].String() == "127.0.0.12:3002" {
					moved++
				}
			}
			if moved == 0 {
				t.Fatal("no client was on the removed address; the test proves nothing")
			}
			if got := nameShares(p); !mapsEqual(got, sharesBefore) {
				t.Errorf("ring shares by name changed: %v -> %v", sharesBefore, got)
			}
			recs := logs.records("server addresses changed")
			if len(recs) == 0 || fmt.Sprint(recs[0]["added"]) != "[127.0.0.13:3002]" || fmt.Sprint(recs[0]["removed"]) != "[127.0.0.12:3002]" {
				t.Errorf("change log lines %v", recs)
			}
		})
	}
}

func nameShares(p *Pool) map[string]float64 {
	out := map[string]float64{}
	for _, s := range p.Snapshot() {
		out[s.Server] += s.Share
	}
	for k, v := range out {
		out[k] = float64(int(v*1e9)) / 1e9
	}
	return out
}

func mapsEqual(a, b map[string]float64) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// TestResolveFailureKeepsAddresses removes the name from DNS (NXDOMAIN): the pool keeps the
// addresses it had and says so; a reload then still builds (keeping them) instead of failing.
func TestResolveFailureKeepsAddresses(t *testing.T) {
	srv := dnsmasqtest.Start(t, dnsmasqtest.Options{TTL: 1}, map[string][]string{"app.test": {"127.0.0.11"}, "other.test": {"127.0.0.1"}})
	u := parseUpstream(t, fmt.Sprintf("servers = [\"127.0.0.1:3001\", \"app.test:3002 resolve\"]\nresolver = %q\n", srv.Addr))
	p, logs := startPool(t, u)
	defer p.Close()
	srv.Set(map[string][]string{"other.test": {"127.0.0.1"}})
	waitFor(t, "the failure log line", func() bool { return len(logs.records("re-resolving server failed, keeping its addresses")) > 0 })
	if got := addrsOf(p, "app.test:3002"); !slices.Equal(got, []string{"127.0.0.11:3002"}) {
		t.Errorf("addresses after NXDOMAIN: %v", got)
	}
	next, err := New(context.Background(), u, net.DefaultResolver, p)
	if err != nil {
		t.Fatalf("reload while the name does not resolve: %v", err)
	}
	if next.Peers()[1] != p.Peers()[1] {
		t.Error("the reload did not keep the peer of the unresolvable name")
	}
	next.Close()
	// Without a previous pool there is nothing to keep: the error is reported.
	if _, err := New(context.Background(), u, net.DefaultResolver, nil); err == nil {
		t.Error("New succeeded on a name that does not resolve")
	}
}

// TestReloadReResolves builds the next pool while DNS already answers differently: the new
// pool has the new addresses at once, keeping the peer of the address that stayed.
func TestReloadReResolves(t *testing.T) {
	srv := dnsmasqtest.Start(t, dnsmasqtest.Options{TTL: 3600}, map[string][]string{"app.test": {"127.0.0.11", "127.0.0.12"}})
	u := parseUpstream(t, fmt.Sprintf("servers = [\"app.test:3002 resolve\", \"127.0.0.1:3001\"]\nresolver = %q\n", srv.Addr))
	old, err := New(context.Background(), u, net.DefaultResolver, nil)
	if err != nil {
		t.Fatal(err)
	}
	old.Start(context.Background(), quiet)
	defer old.Close()
	srv.Set(map[string][]string{"app.test": {"127.0.0.12", "127.0.0.14"}})
	p, err := New(context.Background(), u, net.DefaultResolver, old)
	if err != nil {
		t.Fatal(err)
	}
	if got := addrsOf(p, "app.test:3002"); !slices.Equal(got, []string{"127.0.0.12:3002", "127.0.0.14:3002"}) {
		t.Fatalf("addresses after the reload %v", got)
	}
	if p.Peers()[1].String() != "127.0.0.12:3002" || p.Peers()[1] != old.Peers()[1] {
		t.Errorf("the address that stayed was not carried over: %v, old %v", p.Peers(), old.Peers())
	}
	p.Close()
}

// TestPlainHashSwapKeepsPositions swaps one address of a name under `hash` (plain): the new
// address takes the old one's place in the peer list, so only its clients move.
func TestPlainHashSwapKeepsPositions(t *testing.T) {
	u := &conf.Upstream{Name: "app", Balance: conf.BalanceHash}
	for _, l := range []string{"127.0.0.1:3001", "app.test:3002 resolve", "127.0.0.2:3003"} {
		s, err := conf.ParseServer(l)
		if err != nil {
			t.Fatal(err)
		}
		u.Servers = append(u.Servers, s)
	}
	p, err := New(context.Background(), u, fakeResolver{"app.test": {netip.MustParseAddr("127.0.0.11"), netip.MustParseAddr("127.0.0.12")}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	p.log = quiet
	before, _ := routes(p)
	p.setLine(1, addrTargets(p, 1, netip.MustParseAddr("127.0.0.13"), netip.MustParseAddr("127.0.0.11")))
	after, _ := routes(p)
	moved := 0
	for k, peer := range before {
		switch {
		case peer.String() == "127.0.0.12:3002":
			moved++
			if after[k].String() != "127.0.0.13:3002" {
				t.Fatalf("client %s of the removed address went to %s, want its replacement", k, after[k])
			}
		case after[k] != peer:
			t.Fatalf("client %s moved from %s to %s", k, peer, after[k])
		}
	}
	if moved == 0 {
		t.Fatal("no client was on the replaced address")
	}
}

// TestViewSwapUnderLoad swaps address sets while goroutines connect, look up and take
// snapshots: every operation sees one consistent view (run with -race).
func TestViewSwapUnderLoad(t *testing.T) {
	p := mustPool(t, conf.BalanceHashConsistent, "127.0.0.1:3001", "app.test:3002 resolve", "127.0.0.2:3003")
	p.log = quiet
	sets := [][]netip.Addr{
		{netip.MustParseAddr("127.0.0.11")},
		{netip.MustParseAddr("127.0.0.11"), netip.MustParseAddr("127.0.0.12"), netip.MustParseAddr("::1")},
		{netip.MustParseAddr("127.0.0.13")},
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			d := &fakeDialer{}
			for i := 0; ctx.Err() == nil; i++ {
				key := fmt.Appendf(nil, "10.0.%d.%d", g, i%256)
				c, lease, err := p.Connect(context.Background(), key, d, quiet)
				if err != nil {
					t.Error(err)
					return
				}
				c.Close()
				if p.Lookup(key) == nil || len(p.Snapshot()) == 0 {
					t.Error("no peer")
				}
				lease.Release()
				d.calls = nil
			}
		})
	}
	for i := 0; ctx.Err() == nil; i++ {
		p.setLine(1, addrTargets(p, 1, sets[i%len(sets)]...))
	}
	wg.Wait()
	for _, peer := range p.Peers() {
		if peer.Conns() != 0 {
			t.Errorf("%s: %d tunnels left", peer, peer.Conns())
		}
	}
}

func TestResolveAfter(t *testing.T) {
	tests := []struct {
		name     string
		interval time.Duration
		dns      bool
		ttl      time.Duration
		want     time.Duration
	}{
		{"TTL from the DNS client", 0, true, 42 * time.Second, 42 * time.Second},
		{"TTL 0 is raised", 0, true, 0, minTTL},
		{"a day is cut", 0, true, 24 * time.Hour, maxTTL},
		{"system resolver: 30s", 0, false, 0, defaultResolveInterval},
		{"resolve_interval overrides the TTL", 5 * time.Second, true, 42 * time.Second, 5 * time.Second},
		{"resolve_interval with the system resolver", 5 * time.Second, false, 0, 5 * time.Second},
	}
	for _, tc := range tests {
		p := &Pool{cfg: &conf.Upstream{UpstreamOps: conf.UpstreamOps{ResolveInterval: tc.interval}}}
		if tc.dns {
			p.dns = &dnsClient{}
		}
		if got := p.resolveAfter(tc.ttl); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}
