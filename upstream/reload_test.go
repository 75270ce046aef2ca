package upstream

import (
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
)

// TestReloadCarriesState replaces a pool by one built from the same server lines, as a reload
// does: a passively failed backend stays failed, an actively unhealthy one stays unhealthy, a
// drained one stays drained, and a tunnel opened through the old pool still counts towards
// max_conns in the new one. A server line that changed starts afresh.
func TestReloadCarriesState(t *testing.T) {
	full, drained := startBackend(t, "127.0.0.1:0"), startBackend(t, "127.0.0.1:0")
	deadLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := deadLn.Addr().String()
	deadLn.Close() // connects are refused from now on
	spare := startBackend(t, "127.0.0.1:0")
	lines := fmt.Sprintf(`servers = ["%s max_conns=1", "%s", "%s", "%s"]`, full.addr, drained.addr, dead, spare.addr)
	check := "\nhealth_check = { interval = \"100ms\", timeout = \"100ms\", rise = 1, fall = 1 }\n"

	old, err := New(context.Background(), parseUpstream(t, lines+check), net.DefaultResolver, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	_, lease, err := old.Connect(context.Background(), keyFor(t, old, full.addr), &net.Dialer{}, quiet)
	if err != nil || lease.String() != full.addr {
		t.Fatalf("tunnel to %s: %v %v", full.addr, lease, err)
	}
	defer lease.Release()
	c, l, err := old.Connect(context.Background(), keyFor(t, old, dead), &net.Dialer{}, quiet) // refused, moves on
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	l.Release()
	old.Start(context.Background(), quiet) // after the refused connect: the checks would skip the dead backend
	old.Drain(drained.addr, 0, 0)
	waitFor(t, dead+" unhealthy", func() bool { return old.Peers()[2].unhealthy.Load() })

	tests := []struct {
		name        string
		body        string
		wantFull    int       // tunnels counted on the max_conns=1 server
		wantDead    PeerState // the refused server
		wantDrained PeerState
	}{
		{"same configuration", lines + check, 1, StateUnhealthy, StateDraining},
		// Without health checks the active verdict is dropped (nothing would ever revise it);
		// the passive failure stays.
		{"checks removed", lines, 1, StateFailed, StateDraining},
		{"server line changed", strings.Replace(lines, " max_conns=1", " max_conns=1 weight=2", 1), 0, StateFailed, StateDraining},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := New(context.Background(), parseUpstream(t, tc.body), net.DefaultResolver, old)
			if err != nil {
				t.Fatal(err)
			}
			p.Start(context.Background(), quiet)
			defer p.Close()
			if got := status(t, p, full.addr).Active; got != tc.wantFull {
				t.Errorf("tunnels on %s: %d, want %d", full.addr, got, tc.wantFull)
			}
			if got := status(t, p, dead).State; got != tc.wantDead {
				t.Errorf("state of %s: %s, want %s (%+v)", dead, got, tc.wantDead, status(t, p, dead))
			}
			if got := status(t, p, drained.addr).State; got != tc.wantDrained {
				t.Errorf("state of %s: %s, want %s", drained.addr, got, tc.wantDrained)
			}
			c, l, err := p.Connect(context.Background(), keyFor(t, p, full.addr), &net.Dialer{}, quiet)
			if err != nil {
				t.Fatal(err)
			}
			c.Close()
			l.Release()
			if tc.wantFull == 1 && l.String() == full.addr {
				t.Errorf("max_conns=1 over-admitted after the reload")
			}
			if tc.wantFull == 0 && l.String() != full.addr {
				t.Errorf("the changed server line did not start afresh: client went to %s", l)
			}
		})
	}
	lease.Release()
	if got := old.Peers()[0].Conns(); got != 0 {
		t.Errorf("after Release: %d tunnels", got)
	}
}

// TestReloadKeepsOldChecksQuiet checks that once a new pool owns a peer, the old pool's late
// check results no longer change it.
func TestReloadKeepsOldChecksQuiet(t *testing.T) {
	b := startBackend(t, "127.0.0.1:0")
	u := parseUpstream(t, fmt.Sprintf("servers = [%q, \"127.0.0.1:1\"]\nhealth_check = {}\n", b.addr))
	old, err := New(context.Background(), u, net.DefaultResolver, nil)
	if err != nil {
		t.Fatal(err)
	}
	old.Start(context.Background(), quiet)
	p, err := New(context.Background(), u, net.DefaultResolver, old)
	if err != nil {
		t.Fatal(err)
	}
	p.Start(context.Background(), quiet)
	old.Close()
	defer p.Close()
	peer := p.Peers()[0]
	if peer != old.Peers()[0] {
		t.Fatal("the unchanged peer was not carried over")
	}
	for range 3 {
		old.record(peer, fmt.Errorf("late failure"))
	}
	if peer.unhealthy.Load() {
		t.Error("a replaced pool's check result changed the peer")
	}
	for range 3 {
		p.record(peer, fmt.Errorf("failure"))
	}
	if !peer.unhealthy.Load() {
		t.Error("the owning pool's check results were ignored")
	}
}
