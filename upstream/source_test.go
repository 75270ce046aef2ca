package upstream

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tether-proxy/tether/conf"
	"github.com/tether-proxy/tether/internal/netnstest"
)

// sourcePool is mustPool with source addresses.
func sourcePool(t *testing.T, src []string, lines ...string) *Pool {
	t.Helper()
	u := &conf.Upstream{Name: "app", Balance: conf.BalanceHashConsistent}
	for _, l := range lines {
		s, err := conf.ParseServer(l)
		if err != nil {
			t.Fatal(err)
		}
		u.Servers = append(u.Servers, s)
	}
	for _, a := range src {
		u.Source = append(u.Source, netip.MustParseAddr(a))
	}
	p, err := New(context.Background(), u, fakeResolver{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// holdingBackend accepts and holds connections, recording the source address of each.
type holdingBackend struct {
	ln    net.Listener
	mu    sync.Mutex
	conns []net.Conn
}

func newHoldingBackend(t *testing.T) *holdingBackend {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &holdingBackend{ln: ln}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			b.mu.Lock()
			b.conns = append(b.conns, c)
			b.mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		b.mu.Lock()
		defer b.mu.Unlock()
		for _, c := range b.conns {
			c.Close()
		}
	})
	return b
}

// sources returns how many connections arrived from each source address, waiting (bounded)
// until n have arrived.
func (b *holdingBackend) sources(t *testing.T, n int) map[string]int {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		b.mu.Lock()
		got := len(b.conns)
		if got >= n || time.Now().After(deadline) {
			by := map[string]int{}
			for _, c := range b.conns {
				by[c.RemoteAddr().(*net.TCPAddr).IP.String()]++
			}
			b.mu.Unlock()
			return by
		}
		b.mu.Unlock()
		time.Sleep(5 * time.Millisecond)
	}
}

// TestSourceSpread pins issue 12 item 1: an upstream with source addresses dials each backend
// from them in turn, so the backend sees its connections spread evenly over the sources.
func TestSourceSpread(t *testing.T) {
	b := newHoldingBackend(t)
	p := sourcePool(t, []string{"127.0.0.2", "127.0.0.3", "127.0.0.4"}, b.ln.Addr().String())
	d := &NetDialer{}
	for range 6 {
		c, lease, err := p.Connect(context.Background(), []byte("k"), d, quiet)
		if err != nil {
			t.Fatal(err)
		}
		defer lease.Release()
		defer c.Close()
	}
	got := b.sources(t, 6)
	want := map[string]int{"127.0.0.2": 2, "127.0.0.3": 2, "127.0.0.4": 2}
	if len(got) != len(want) || got["127.0.0.2"] != 2 || got["127.0.0.3"] != 2 || got["127.0.0.4"] != 2 {
		t.Fatalf("connections by source address at the backend: %v, want %v", got, want)
	}
}

// TestSourceChoice pins the source rotation an event-loop connect shares: attempt try of turn
// uses the (turn+try)'th source of the peer's family, and a peer of a family without sources
// gets none.
func TestSourceChoice(t *testing.T) {
	p := sourcePool(t, []string{"127.0.0.2", "::2", "127.0.0.3"}, "127.0.0.1:3001", "[::1]:3002")
	v4, v6 := p.Peers()[0], p.Peers()[1]
	for _, tc := range []struct {
		peer      *Peer
		turn      uint32
		try       int
		want      string // "" for none
		wantFound bool
	}{
		{v4, 0, 0, "127.0.0.2", true},
		{v4, 0, 1, "127.0.0.3", true},
		{v4, 0, 2, "", false},
		{v4, 1, 0, "127.0.0.3", true},
		{v4, 1, 1, "127.0.0.2", true},
		{v4, 7, 0, "127.0.0.3", true},
		{v6, 5, 0, "::2", true},
		{v6, 5, 1, "", false},
	} {
		got, ok := p.Source(tc.peer, tc.turn, tc.try)
		if ok != tc.wantFound || (ok && got.String() != tc.want) {
			t.Errorf("Source(%s, turn %d, try %d) = %v %t, want %q %t", tc.peer, tc.turn, tc.try, got, ok, tc.want, tc.wantFound)
		}
	}
	if _, ok := sourcePool(t, []string{"::2"}, "127.0.0.1:3001").Source(v4, 0, 0); ok {
		t.Error("an IPv4 peer got a source from an upstream with IPv6 sources only")
	}
}

// TestSourcePortExhaustion pins issue 12 item 1 at port exhaustion, in a network namespace
// whose ephemeral range is 4 ports: once one source address has no port left towards the
// backend the next source is used; once every source is out, the connection is refused with
// reason "no local port", the backend counts no failure and the client is not moved to another
// backend; a freed port serves the next client.
func TestSourcePortExhaustion(t *testing.T) {
	if !netnstest.Run(t) {
		return
	}
	netnstest.SetPortRange(t, 40000, 40003)
	own, other := newHoldingBackend(t), newHoldingBackend(t)
	p := sourcePool(t, []string{"127.0.0.2", "127.0.0.3"}, own.ln.Addr().String(), other.ln.Addr().String())
	key := keyFor(t, p, own.ln.Addr().String())

	// Take every port of 127.0.0.2 towards the client's backend.
	filled := 0
	for {
		d := NetDialer{}
		c, err := d.DialFrom(context.Background(), netip.MustParseAddr("127.0.0.2"), own.ln.Addr().String())
		if errors.Is(err, syscall.EADDRNOTAVAIL) {
			break
		}
		if err != nil || filled > 64 {
			t.Fatalf("filling 127.0.0.2 after %d connections: %v", filled, err)
		}
		defer c.Close()
		filled++
	}
	t.Logf("127.0.0.2 took %d ports", filled)
	// Every connection now goes from 127.0.0.3 until it is out of ports too.
	d := &NetDialer{}
	var mine []net.Conn
	for range filled {
		c, lease, err := p.Connect(context.Background(), key, d, quiet)
		if err != nil {
			t.Fatalf("connect with 127.0.0.3 free: %v", err)
		}
		defer lease.Release()
		defer c.Close()
		if src := c.LocalAddr().(*net.TCPAddr).IP.String(); src != "127.0.0.3" {
			t.Fatalf("connection from %s, want 127.0.0.3 (127.0.0.2 is out of ports)", src)
		}
		mine = append(mine, c)
	}
	_, _, err := p.Connect(context.Background(), key, d, quiet)
	var local *LocalError
	if !errors.As(err, &local) || local.Reason != ReasonNoLocalPort {
		t.Fatalf("with every source out of ports: %v, want a *LocalError %q", err, ReasonNoLocalPort)
	}
	for _, peer := range p.Peers() {
		if peer.fails.Load() != 0 {
			t.Errorf("%s blamed (fails=%d) for tether's port exhaustion", peer, peer.fails.Load())
		}
	}
	if n := len(other.sources(t, 0)); n != 0 {
		t.Errorf("the client was moved: the other backend got connections from %d sources", n)
	}
	// The backend ends one tunnel (so the TIME_WAIT is on its side): its port serves the next.
	own.mu.Lock()
	for _, bc := range own.conns {
		if bc.RemoteAddr().String() == mine[0].LocalAddr().String() {
			bc.Close()
		}
	}
	own.mu.Unlock()
	mine[0].SetReadDeadline(time.Now().Add(5 * time.Second))
	mine[0].Read(make([]byte, 1))
	mine[0].Close()
	c, lease, err := p.Connect(context.Background(), key, d, quiet)
	if err != nil {
		t.Fatalf("after a port was freed: %v", err)
	}
	lease.Release()
	c.Close()
}

// TestSourceHealthCheck pins that active checks come from the upstream's source addresses, as
// tunnels do (a backend that admits only the sources must pass them), and that a check failing
// for want of tether's own resources counts neither towards fall nor rise.
func TestSourceHealthCheck(t *testing.T) {
	b := newHoldingBackend(t)
	u := parseUpstream(t, fmt.Sprintf(`servers = ["%s"]
source = ["127.0.0.3", "127.0.0.4"]
health_check = { type = "tcp", interval = "100ms", timeout = "100ms", rise = 1, fall = 1 }
`, b.ln.Addr()))
	p, logs := startPool(t, u)
	defer checkNoLeaks(t)
	defer p.Close()
	waitFor(t, "a first passed check", func() bool { s := status(t, p, b.ln.Addr().String()); return s.Checked && s.CheckOK })
	if got := b.sources(t, 1); got["127.0.0.3"] == 0 || len(got) != 1 {
		t.Errorf("checks came from %v, want 127.0.0.3 (the first source)", got)
	}

	peer := p.Peers()[0]
	emfile := &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("socket", syscall.EMFILE)}
	for range 3 {
		p.checked(peer, emfile)
	}
	if s := status(t, p, b.ln.Addr().String()); s.State != StateUp {
		t.Errorf("after checks that failed for want of descriptors the backend is %s, want up", s.State)
	}
	if recs := logs.records("health check not run"); len(recs) != 3 || recs[0]["reason"] != ReasonNoFD {
		t.Errorf("log lines for checks not run: %v", recs)
	}
}
