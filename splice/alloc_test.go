package splice

import (
	"context"
	"io"
	"testing"
)

// TestBurstAllocs: once a plain tunnel runs, forwarding a message allocates
// nothing, on the splice and the copy path (readiness wait, pipe or buffer
// lending, idle bookkeeping). TLS legs are left out: crypto/tls is not ours.
func TestBurstAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops items at random under the race detector")
	}
	for _, k := range kinds {
		if k.tls {
			continue
		}
		t.Run(k.name, func(t *testing.T) {
			e := NewEngine(k.cfg)
			defer e.Close()
			r := newRig(t, false)
			ctx, cancel := context.WithCancel(context.Background())
			done := r.forward(ctx, e, Options{Idle: hangLimit})
			defer func() { cancel(); waitResult(t, done) }()
			msg, buf := make([]byte, 512), make([]byte, 512)
			hop := func(from, to io.ReadWriter) {
				if _, err := from.Write(msg); err != nil {
					t.Fatal(err)
				}
				if _, err := io.ReadFull(to, buf); err != nil {
					t.Fatal(err)
				}
			}
			allocs := testing.AllocsPerRun(200, func() {
				hop(r.clientPeer, r.backendPeer)
				hop(r.backendPeer, r.clientPeer)
			})
			if allocs > 0.5 {
				t.Errorf("%.2f allocations per round trip, want 0", allocs)
			}
		})
	}
}
