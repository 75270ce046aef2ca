package upstream

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"slices"
	"strings"
	"testing"
	"time"
)

// echo writes msg on c and checks that it comes back.
func echo(t *testing.T, c net.Conn, msg string) {
	t.Helper()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	defer c.SetDeadline(time.Time{})
	if _, err := io.WriteString(c, msg); err != nil {
		t.Fatalf("write through the tunnel: %v", err)
	}
	buf := make([]byte, len(msg))
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != msg {
		t.Fatalf("echo through the tunnel: %q, %v", buf, err)
	}
}

// TestDrain drains one of two backends by server name or by address: new clients go to the
// other one, the tunnel already open keeps working until the deadline closes it (by closing
// the backend connection, or through the cancel function given to CancelOnDrain); Undrain
// brings the clients back.
func TestDrain(t *testing.T) {
	for _, tc := range []struct {
		name       string
		byAddress  bool
		withCancel bool
	}{
		{"by server name, closing the connection", false, false},
		{"by address, through CancelOnDrain", true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, b := startBackend(t, "127.0.0.1:0"), startBackend(t, "127.0.0.1:0")
			// The first server is written as "localhost:PORT": a name whose one address is
			// 127.0.0.1, so a name target and an address target differ.
			_, aPort, _ := net.SplitHostPort(a.addr)
			aName := "localhost:" + aPort
			p, err := New(context.Background(), parseUpstream(t, fmt.Sprintf(`servers = ["%s", "%s"]`, aName, b.addr)),
				fakeResolver{"localhost": {netip.MustParseAddr("127.0.0.1")}}, nil)
			if err != nil {
				t.Fatal(err)
			}
			log, logs := newLog()
			p.Start(context.Background(), log)
			defer checkNoLeaks(t)
			defer p.Close()

			key := keyFor(t, p, a.addr)
			d := &recordingDialer{}
			tunnel, lease, err := p.Connect(context.Background(), key, d, quiet)
			if err != nil || lease.String() != a.addr {
				t.Fatalf("first tunnel: %v %v", lease, err)
			}
			defer lease.Release()
			var cause error
			ctx, cancel := context.WithCancelCause(context.Background())
			defer cancel(nil)
			if tc.withCancel {
				lease.CancelOnDrain(cancel)
				context.AfterFunc(ctx, func() { tunnel.Close() })
			}

			target := aName
			if tc.byAddress {
				target = a.addr
			}
			n, err := p.Drain(target, 300*time.Millisecond, 0)
			if err != nil || n != 1 {
				t.Fatalf("Drain(%q) = %d, %v", target, n, err)
			}
			st := status(t, p, a.addr)
			if st.State != StateDraining || st.Active != 1 || st.DrainDeadline.IsZero() {
				t.Errorf("status while draining: %+v", st)
			}
			d.take()
			c2, l2, err := p.Connect(context.Background(), key, d, quiet)
			if err != nil {
				t.Fatal(err)
			}
			c2.Close()
			l2.Release()
			if calls := d.take(); l2.String() != b.addr || slices.Contains(calls, a.addr) {
				t.Errorf("a new client of the drained backend dialled %v and landed on %s", calls, l2)
			}
			echo(t, tunnel, "still open while draining")

			// The deadline ends the tunnel.
			tunnel.SetReadDeadline(time.Now().Add(20 * time.Second))
			_, err = tunnel.Read(make([]byte, 1))
			if err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatalf("the tunnel survived the drain deadline: %v", err)
			}
			if !lease.wasDrained() {
				t.Error("lease.wasDrained() = false after the deadline closed it")
			}
			if tc.withCancel {
				cause = context.Cause(ctx)
				if !errors.Is(cause, ErrDrained) {
					t.Errorf("cancel cause %v, want ErrDrained", cause)
				}
			}
			waitFor(t, "the deadline log line", func() bool { return len(logs.records("drain deadline reached, closing tunnels")) == 1 })
			if r := logs.records("drain deadline reached, closing tunnels")[0]; r["tunnels"] != 1.0 || r["target"] != target {
				t.Errorf("deadline log line %v", r)
			}

			if _, err := p.Undrain(target); err != nil {
				t.Fatal(err)
			}
			c3, l3, err := p.Connect(context.Background(), key, d, quiet)
			if err != nil {
				t.Fatal(err)
			}
			c3.Close()
			l3.Release()
			if l3.String() != a.addr || status(t, p, a.addr).State != StateUp {
				t.Errorf("after Undrain the client went to %s", l3)
			}
		})
	}
}

func TestDrainErrors(t *testing.T) {
	p := mustPool(t, "hash-consistent", "127.0.0.1:3001", "127.0.0.1:3002")
	if _, err := p.Drain("127.0.0.1:9999", 0, 0); err == nil || !strings.Contains(err.Error(), "servers: 127.0.0.1:3001, 127.0.0.1:3002") {
		t.Errorf("Drain of an unknown backend: %v", err)
	}
	if _, err := p.Undrain("127.0.0.1:3001"); err == nil || !strings.Contains(err.Error(), "not draining") {
		t.Errorf("Undrain of a backend not draining: %v", err)
	}
	// Two drains name the same peer: it stays drained until both end.
	p.Drain("127.0.0.1:3001", 0, 0)
	p.Drain("127.0.0.1:3001", 0, 0) // again: replaces the first
	if n, err := p.Undrain("127.0.0.1:3001"); n != 1 || err != nil {
		t.Errorf("Undrain = %d, %v", n, err)
	}
	if p.Peers()[0].draining.Load() {
		t.Error("still draining after Undrain")
	}
	p.Close()
}

// TestDrainWithoutDeadline keeps the tunnel open: nothing closes it, and it survives Undrain
// and the pool's Close (Close never touches tunnels).
func TestDrainWithoutDeadline(t *testing.T) {
	a, b := startBackend(t, "127.0.0.1:0"), startBackend(t, "127.0.0.1:0")
	p, err := New(context.Background(), parseUpstream(t, fmt.Sprintf(`servers = ["%s", "%s"]`, a.addr, b.addr)), net.DefaultResolver, nil)
	if err != nil {
		t.Fatal(err)
	}
	p.Start(context.Background(), quiet)
	tunnel, lease, err := p.Connect(context.Background(), keyFor(t, p, a.addr), &net.Dialer{}, quiet)
	if err != nil {
		t.Fatal(err)
	}
	defer tunnel.Close()
	defer lease.Release()
	if _, err := p.Drain(a.addr, 0, 0); err != nil {
		t.Fatal(err)
	}
	echo(t, tunnel, "draining")
	p.Undrain(a.addr)
	p.Close()
	echo(t, tunnel, "after Close")
	if lease.wasDrained() {
		t.Error("a drain without deadline closed the tunnel")
	}
}

// TestDrainReachesRemovedAddress drains a name after DNS dropped the address a tunnel uses:
// the deadline still closes that tunnel.
func TestDrainReachesRemovedAddress(t *testing.T) {
	b := startBackend(t, "127.0.0.1:0")
	_, port, _ := net.SplitHostPort(b.addr)
	name := "app.test:" + port
	u := parseUpstream(t, fmt.Sprintf("servers = [%q, \"127.0.0.1:1\"]\n", name+" resolve"))
	p, err := New(context.Background(), u, fakeResolver{"app.test": {netip.MustParseAddr("127.0.0.1")}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	p.Start(context.Background(), quiet)
	defer p.Close()
	tunnel, lease, err := p.Connect(context.Background(), keyFor(t, p, b.addr), &net.Dialer{}, quiet)
	if err != nil {
		t.Fatal(err)
	}
	defer tunnel.Close()
	defer lease.Release()
	p.setLine(0, addrTargets(p, 0, netip.MustParseAddr("127.0.0.2")))
	if slices.Contains(p.Peers(), lease.Peer) {
		t.Fatal("the removed address is still a peer")
	}
	if _, err := p.Drain(name, 50*time.Millisecond, 0); err != nil {
		t.Fatal(err)
	}
	tunnel.SetReadDeadline(time.Now().Add(20 * time.Second))
	if _, err := tunnel.Read(make([]byte, 1)); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("the tunnel to the removed address survived the drain deadline: %v", err)
	}
}

// TestDrainDeadlineSpread: the tunnels open at a drain deadline are closed one by one over the
// spread, oldest first, and whatever ends the drain first (Undrain, a new Drain of the same
// target, the pool's Close) stops the closing: the tunnels not reached yet stay open. A spread
// of an hour makes the order certain without timing: the first tunnel closes at the
// deadline, the second not before 20 minutes later.
func TestDrainDeadlineSpread(t *testing.T) {
	for _, tc := range []struct {
		name string
		stop func(p *Pool, target string) error
	}{
		{"stopped by Undrain", func(p *Pool, target string) error { _, err := p.Undrain(target); return err }},
		{"stopped by a new Drain", func(p *Pool, target string) error { _, err := p.Drain(target, 0, 0); return err }},
		{"stopped by Close", func(p *Pool, _ string) error { p.Close(); return nil }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, b := startBackend(t, "127.0.0.1:0"), startBackend(t, "127.0.0.1:0")
			p, logs := startPool(t, parseUpstream(t, fmt.Sprintf(`servers = ["%s", "%s"]`, a.addr, b.addr)))
			defer checkNoLeaks(t)
			defer p.Close()

			key := keyFor(t, p, a.addr)
			var tunnels []net.Conn
			var leases []*Lease
			for range 3 {
				c, l, err := p.Connect(context.Background(), key, &net.Dialer{}, quiet)
				if err != nil || l.String() != a.addr {
					t.Fatalf("tunnel: %v %v", l, err)
				}
				defer c.Close()
				defer l.Release()
				tunnels, leases = append(tunnels, c), append(leases, l)
			}
			if _, err := p.Drain(a.addr, 50*time.Millisecond, time.Hour); err != nil {
				t.Fatal(err)
			}

			// The deadline closes the oldest tunnel at once.
			tunnels[0].SetReadDeadline(time.Now().Add(20 * time.Second))
			if _, err := tunnels[0].Read(make([]byte, 1)); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatalf("the first tunnel survived the drain deadline: %v", err)
			}
			waitFor(t, "the deadline log line", func() bool { return len(logs.records("drain deadline reached, closing tunnels")) == 1 })
			if r := logs.records("drain deadline reached, closing tunnels")[0]; r["tunnels"] != 3.0 || r["spread"] != float64(time.Hour) {
				t.Errorf("deadline log line %v", r)
			}
			if err := tc.stop(p, a.addr); err != nil {
				t.Fatal(err)
			}
			waitFor(t, "the log line of the stopped closing", func() bool { return len(logs.records("drain ended while closing tunnels")) == 1 })
			if r := logs.records("drain ended while closing tunnels")[0]; r["closed"] != 1.0 || r["left open"] != 2.0 {
				t.Errorf("stop log line %v", r)
			}
			for i, c := range tunnels[1:] {
				echo(t, c, "not reached by the spread")
				if leases[i+1].wasDrained() {
					t.Errorf("tunnel %d marked drained", i+1)
				}
			}
			if !leases[0].wasDrained() {
				t.Error("the closed tunnel is not marked drained")
			}
		})
	}
}

// TestCloseSpread checks closeSpread's bookkeeping: every lease is ended in order when nothing
// stops it, a lease already released is skipped, and a closed stop channel ends nothing.
func TestCloseSpread(t *testing.T) {
	b := startBackend(t, "127.0.0.1:0")
	p, err := New(context.Background(), parseUpstream(t, fmt.Sprintf(`servers = ["%s"]`, b.addr)), net.DefaultResolver, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	open := func(n int) []*Lease {
		var ls []*Lease
		for range n {
			c, l, err := p.Connect(context.Background(), []byte("k"), &net.Dialer{}, quiet)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { c.Close(); l.Release() })
			ls = append(ls, l)
		}
		return ls
	}
	ls := open(4)
	ls[2].Release()
	if ended, left := closeSpread(ls, 10*time.Millisecond, nil); ended != 3 || left != 0 {
		t.Errorf("closeSpread = %d ended, %d left; want 3, 0", ended, left)
	}
	for i, l := range ls {
		if l.wasDrained() != (i != 2) {
			t.Errorf("lease %d drained = %t", i, l.wasDrained())
		}
	}
	stop := make(chan struct{})
	close(stop)
	ls = open(2)
	if ended, left := closeSpread(ls, 0, stop); ended != 0 || left != 2 {
		t.Errorf("closeSpread after stop = %d ended, %d left; want 0, 2", ended, left)
	}
}
