package upstream

import (
	"context"
	"fmt"
	"math"
	"net"
	"testing"
	"time"

	"github.com/tether-proxy/tether/conf"
	"github.com/tether-proxy/tether/internal/dnsmasqtest"
)

// TestCloseStopsEverything starts every kind of background work (HTTP checks in flight against
// a backend that never answers, DNS re-resolution, a drain deadline) and checks that Close, or
// the end of Start's context, leaves no goroutine behind.
func TestCloseStopsEverything(t *testing.T) {
	srv := dnsmasqtest.Start(t, dnsmasqtest.Options{TTL: 1}, map[string][]string{"app.test": {"127.0.0.11"}})
	hang, err := net.Listen("tcp", "127.0.0.1:0") // accepts (in the kernel) and never answers
	if err != nil {
		t.Fatal(err)
	}
	defer hang.Close()
	u := parseUpstream(t, fmt.Sprintf(`servers = ["%s", "app.test:3002 resolve"]
resolver = "%s"
[upstreams.app.health_check]
type = "http"
interval = "1s"
timeout = "1s"
`, hang.Addr(), srv.Addr))
	for _, how := range []string{"Close", "context"} {
		t.Run(how, func(t *testing.T) {
			p, err := New(context.Background(), u, net.DefaultResolver, nil)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			p.Start(ctx, quiet)
			p.Start(ctx, quiet) // a second Start does nothing
			if _, err := p.Drain("app.test:3002", time.Hour, 0); err != nil {
				t.Fatal(err)
			}
			time.Sleep(50 * time.Millisecond) // let a check get under way
			if how == "Close" {
				p.Close()
			} else {
				cancel()
				p.wg.Wait()
			}
			checkNoLeaks(t)
			p.Close()
			p.Start(context.Background(), quiet) // after Close: nothing starts
			checkNoLeaks(t)
		})
	}
	// Close on a pool never started.
	p, err := New(context.Background(), u, net.DefaultResolver, nil)
	if err != nil {
		t.Fatal(err)
	}
	p.Close()
}

// TestSnapshot shows each state, the counters and the ring shares.
func TestSnapshot(t *testing.T) {
	now := time.Unix(1000, 0).UnixNano()
	setClock(t, &now)
	p := mustPool(t, conf.BalanceHashConsistent,
		"127.0.0.1:3001", "127.0.0.1:3002 weight=3 max_conns=9", "127.0.0.1:3003 down", "127.0.0.1:3004",
		"127.0.0.1:3005", "127.0.0.1:3006 backup")
	peers := p.Peers()
	peers[3].failed(now)                      // passive failure
	peers[4].unhealthy.Store(true)            // failing active checks
	p.Drain("127.0.0.1:3005", time.Minute, 0) // drained and unhealthy: drained shows
	l := peers[1].acquire(nil)                // one tunnel open
	peers[1].acquire(nil).Release()           // one closed
	peers[4].check = checkState{failRun: 3, last: time.Unix(999, 0), lastErr: "refused"}
	defer l.Release()
	defer p.Close()

	want := []struct {
		state         PeerState
		active, total int
	}{
		{StateUp, 0, 0}, {StateUp, 1, 2}, {StateDown, 0, 0}, {StateFailed, 0, 0}, {StateDraining, 0, 0}, {StateUp, 0, 0},
	}
	snap := p.Snapshot()
	sum := 0.0
	for i, s := range snap {
		sum += s.Share
		if s.State != want[i].state || s.Active != want[i].active || s.Total != uint64(want[i].total) {
			t.Errorf("peer %d: %+v, want %+v", i, s, want[i])
		}
	}
	if math.Abs(sum-1) > 1e-9 || snap[5].Share != 0 || !snap[5].Backup || snap[1].Weight != 3 || snap[1].MaxConns != 9 {
		t.Errorf("shares, backup or weights wrong: %+v", snap)
	}
	if s := snap[4]; !s.Checked || s.CheckOK || s.CheckErr != "refused" || s.DrainDeadline.IsZero() {
		t.Errorf("check or drain details: %+v", s)
	}
	if s := snap[3]; s.Fails != 1 {
		t.Errorf("fails %d, want 1", s.Fails)
	}
}
