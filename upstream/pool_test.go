package upstream

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tether-proxy/tether/conf"
	"github.com/tether-proxy/tether/hashing"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// fakeResolver answers from a map, in the order given (possibly IPv6 first).
type fakeResolver map[string][]netip.Addr

func (f fakeResolver) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	if a, ok := f[host]; ok {
		return a, nil
	}
	return nil, fmt.Errorf("no such host %s", host)
}

// fakeDialer refuses the addresses in refuse and "connects" everywhere else, recording calls.
type fakeDialer struct {
	refuse map[string]bool
	calls  []string
}

func (d *fakeDialer) DialContext(_ context.Context, _, addr string) (net.Conn, error) {
	d.calls = append(d.calls, addr)
	if d.refuse[addr] {
		return nil, &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
	}
	c1, c2 := net.Pipe()
	c2.Close()
	return c1, nil
}

func mustPool(t *testing.T, balance conf.Balance, lines ...string) *Pool {
	t.Helper()
	u := &conf.Upstream{Name: "app", Balance: balance}
	for _, l := range lines {
		s, err := conf.ParseServer(l)
		if err != nil {
			t.Fatal(err)
		}
		u.Servers = append(u.Servers, s)
	}
	p, err := New(context.Background(), u, fakeResolver{
		"localhost": {netip.MustParseAddr("::1"), netip.MustParseAddr("127.0.0.1")},
		"app.test":  {netip.MustParseAddr("127.0.0.11")},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// setClock makes the package clock return *now for the rest of the test.
func setClock(t *testing.T, now *int64) {
	old := clock
	clock = func() int64 { return *now }
	t.Cleanup(func() { clock = old })
}

func TestResolveOrder(t *testing.T) {
	p := mustPool(t, conf.BalanceHashConsistent, "localhost:3001", "127.0.0.2:3002")
	var got []string
	for _, peer := range p.Peers() {
		got = append(got, peer.String()+"="+peer.Server.Name)
	}
	// nginx's ngx_inet_resolve_host: IPv4 addresses first, then IPv6, each keeping the line's name.
	want := []string{"127.0.0.1:3001=localhost:3001", "[::1]:3001=localhost:3001", "127.0.0.2:3002=127.0.0.2:3002"}
	if !slices.Equal(got, want) {
		t.Fatalf("peers %v, want %v", got, want)
	}
}

// TestPassiveHealth walks nginx's max_fails / fail_timeout life cycle of one peer: a refused
// connect marks it failed and the client moves on; for fail_timeout every client skips it;
// then one pick probes it, and a success brings it back.
func TestPassiveHealth(t *testing.T) {
	now := time.Unix(1000, 0).UnixNano()
	setClock(t, &now)
	p := mustPool(t, conf.BalanceHashConsistent,
		"127.0.0.1:3001 max_fails=1 fail_timeout=10", "127.0.0.1:3002", "127.0.0.1:3003")
	// Find a key whose first choice is 3001.
	var key []byte
	for i := range 1000 {
		k := []byte(fmt.Sprintf("127.0.%d.%d", i/250, i%250))
		if p.Lookup(k).String() == "127.0.0.1:3001" {
			key = k
			break
		}
	}
	if key == nil {
		t.Fatal("no key maps to 3001")
	}
	d := &fakeDialer{refuse: map[string]bool{"127.0.0.1:3001": true}}
	c, peer, err := p.Connect(context.Background(), key, d, quiet)
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	peer.Release()
	moved := peer.String()
	if d.calls[0] != "127.0.0.1:3001" || moved == "127.0.0.1:3001" || len(d.calls) != 2 {
		t.Fatalf("dials %v, landed on %s; want 3001 refused then the next peer", d.calls, moved)
	}
	dead := p.Peers()[0]
	if st := (*liveHealth)(p.view.Load()).State(0); st != hashing.Failed {
		t.Fatalf("state after a refused connect: %v, want Failed", st)
	}

	// Within fail_timeout nobody dials 3001 again; the client lands where it did.
	now += int64(9 * time.Second)
	d.calls = nil
	c, peer, _ = p.Connect(context.Background(), key, d, quiet)
	c.Close()
	peer.Release()
	if len(d.calls) != 1 || peer.String() != moved {
		t.Fatalf("within fail_timeout: dials %v -> %s, want only %s", d.calls, peer, moved)
	}

	// After fail_timeout the next pick probes 3001; it answers now, so it is live again.
	now += int64(2 * time.Second)
	d.refuse = nil
	d.calls = nil
	c, peer, _ = p.Connect(context.Background(), key, d, quiet)
	c.Close()
	peer.Release()
	if peer.Peer != dead || dead.fails.Load() != 0 {
		t.Fatalf("probe after fail_timeout reached %s with fails=%d, want 3001 and fails reset", peer, dead.fails.Load())
	}
}

func TestSinglePeerIsNotRetried(t *testing.T) {
	p := mustPool(t, conf.BalanceHashConsistent, "127.0.0.1:3001", "127.0.0.1:3002 backup")
	d := &fakeDialer{refuse: map[string]bool{"127.0.0.1:3001": true}}
	_, _, err := p.Connect(context.Background(), []byte("127.0.0.9"), d, quiet)
	// nginx: with one primary peer a failed connect is final (no backup, no failure count).
	if !errors.Is(err, ErrNoPeer) || len(d.calls) != 1 || p.Peers()[0].fails.Load() != 0 {
		t.Fatalf("err %v, dials %v, fails %d", err, d.calls, p.Peers()[0].fails.Load())
	}
	if !strings.Contains(err.Error(), "127.0.0.1:3001") {
		t.Fatalf("error %q does not name the backend", err)
	}
}

func TestMaxConns(t *testing.T) {
	p := mustPool(t, conf.BalanceHash, "127.0.0.1:3001 max_conns=1", "127.0.0.1:3002")
	d := &fakeDialer{}
	key := []byte("x")
	for i := range 1000 {
		key = []byte(fmt.Sprint("10.0.0.", i))
		if p.Lookup(key).String() == "127.0.0.1:3001" {
			break
		}
	}
	_, first, err := p.Connect(context.Background(), key, d, quiet)
	if err != nil || first.String() != "127.0.0.1:3001" {
		t.Fatalf("first: %v %v", first, err)
	}
	_, second, err := p.Connect(context.Background(), key, d, quiet)
	if err != nil || second.String() != "127.0.0.1:3002" {
		t.Fatalf("second connection while 3001 is at max_conns went to %v (%v)", second, err)
	}
	first.Release()
	_, third, _ := p.Connect(context.Background(), key, d, quiet)
	if third.String() != "127.0.0.1:3001" {
		t.Fatalf("after release: %v", third)
	}
}

func TestCancelledConnectBlamesNobody(t *testing.T) {
	p := mustPool(t, conf.BalanceHashConsistent, "127.0.0.1:3001", "127.0.0.1:3002")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	d := dialFunc(func(ctx context.Context, _, _ string) (net.Conn, error) { return nil, ctx.Err() })
	if _, _, err := p.Connect(ctx, []byte("k"), d, quiet); !errors.Is(err, context.Canceled) {
		t.Fatalf("err %v, want context.Canceled", err)
	}
	for _, peer := range p.Peers() {
		if peer.fails.Load() != 0 {
			t.Fatalf("%s blamed for a cancelled connect", peer)
		}
	}
}

type dialFunc func(ctx context.Context, network, addr string) (net.Conn, error)

func (f dialFunc) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	return f(ctx, network, addr)
}

// staticDialer "connects" to one fixed connection, allocating nothing.
type staticDialer struct{ c net.Conn }

func (d *staticDialer) DialContext(context.Context, string, string) (net.Conn, error) {
	return d.c, nil
}

// TestConnectAllocations keeps the per-tunnel cost of health and drain bookkeeping to the one
// Lease that registers the tunnel with its peer.
func TestConnectAllocations(t *testing.T) {
	for _, b := range []conf.Balance{conf.BalanceHashConsistent, "least-conn", "source", "source-consistent"} {
		p := mustPool(t, b, "127.0.0.1:3001", "127.0.0.1:3002", "127.0.0.1:3003")
		c1, c2 := net.Pipe()
		defer c1.Close()
		defer c2.Close()
		d := &staticDialer{c1}
		key := []byte("127.0.0.9")
		if b != conf.BalanceHashConsistent {
			key = []byte{127, 0, 0, 9}
		}
		allocs := testing.AllocsPerRun(200, func() {
			_, lease, err := p.Connect(context.Background(), key, d, quiet)
			if err != nil {
				t.Fatal(err)
			}
			lease.Release()
		})
		if allocs > 1 {
			t.Errorf("balance %s: Connect + Release: %v allocations, want at most 1 (the Lease)", b, allocs)
		}
	}
}

// TestLocalErrorsBlameNobody pins issue 10 item 2: a connect that fails for want of tether's
// own resources (EMFILE, ENFILE, ENOBUFS, ENOMEM, EADDRNOTAVAIL) refuses that one connection
// with its own reason; the peer's max_fails count stays 0 and no other peer is tried (the client
// keeps its backend). On 5922e7c every such failure marked the peer failed and moved on.
func TestLocalErrorsBlameNobody(t *testing.T) {
	for _, tc := range []struct {
		errno  syscall.Errno
		reason string
	}{
		{syscall.EMFILE, ReasonNoFD},
		{syscall.ENFILE, ReasonNoFD},
		{syscall.ENOBUFS, ReasonNoMemory},
		{syscall.ENOMEM, ReasonNoMemory},
		{syscall.EADDRNOTAVAIL, ReasonNoLocalPort},
	} {
		t.Run(tc.errno.Error(), func(t *testing.T) {
			p := mustPool(t, conf.BalanceHashConsistent, "127.0.0.1:3001", "127.0.0.1:3002", "127.0.0.1:3003")
			var calls []string
			d := dialFunc(func(_ context.Context, _, addr string) (net.Conn, error) {
				calls = append(calls, addr)
				return nil, &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("socket", tc.errno)}
			})
			key := []byte("127.0.0.9")
			want := p.Lookup(key).String()
			_, _, err := p.Connect(context.Background(), key, d, quiet)
			var local *LocalError
			if !errors.As(err, &local) || local.Reason != tc.reason {
				t.Fatalf("err %v, want a *LocalError with reason %q", err, tc.reason)
			}
			if len(calls) != 1 || calls[0] != want {
				t.Fatalf("dialled %v, want only the client's own backend %s", calls, want)
			}
			for _, peer := range p.Peers() {
				if peer.fails.Load() != 0 {
					t.Fatalf("%s blamed (fails=%d) for tether's own %v", peer, peer.fails.Load(), tc.errno)
				}
			}
		})
	}
}

// TestNoLivePeerMessage pins the "no live upstreams" error when every peer is out of rotation
// and nothing was dialled: it read "no live upstreams: %!w(<nil>)" on 5922e7c.
func TestNoLivePeerMessage(t *testing.T) {
	p := mustPool(t, conf.BalanceHashConsistent, "127.0.0.1:3001 down", "127.0.0.1:3002 down", "127.0.0.1:3003")
	p.Peers()[2].draining.Store(true)
	_, _, err := p.Connect(context.Background(), []byte("k"), &fakeDialer{}, quiet)
	if !errors.Is(err, ErrNoPeer) || strings.Contains(err.Error(), "%!") {
		t.Fatalf("err %q, want a formatted ErrNoPeer", err)
	}
}
