package splice

import (
	"context"
	"io"
	"net"
	"runtime"
	"strings"
	"sync"
	"testing"
)

// dataCase is one way of wiring a tunnel for the data tests.
type dataCase struct {
	name    string
	tls     bool         // client leg is TLS (copy path)
	foreign bool         // ... made by tls.Server, not TLSServer: the stream tunnel
	cfg     EngineConfig // engine under test
	tunnels int          // concurrent tunnels on the same engine
	spliced bool         // every Result must report Spliced (else none may)
	anyWay  bool         // Spliced is not checked
}

var dataCases = []dataCase{
	{name: "loop/plain-splice", cfg: EngineConfig{}, tunnels: 1, spliced: true},
	{name: "loop/tls-client-copy", tls: true, cfg: EngineConfig{}, tunnels: 1},
	{name: "loop/plain-splice-disabled", cfg: EngineConfig{MaxPipes: -1}, tunnels: 1},
	{name: "loop/tiny-pool-fallback", cfg: EngineConfig{MaxPipes: 1}, tunnels: 3, anyWay: true},
	{name: "loop/many-tunnels-one-loop", cfg: EngineConfig{Loops: 1, MaxPipes: 2}, tunnels: 6, anyWay: true},
	{name: "loop/tls-many", tls: true, cfg: EngineConfig{Loops: 2}, tunnels: 4},
	{name: "goroutines/plain-splice", cfg: EngineConfig{Mode: ModeGoroutines}, tunnels: 1, spliced: true},
	{name: "goroutines/tls-client-copy", tls: true, cfg: EngineConfig{Mode: ModeGoroutines}, tunnels: 1},
	{name: "goroutines/plain-splice-disabled", cfg: EngineConfig{Mode: ModeGoroutines, MaxPipes: -1}, tunnels: 1},
	{name: "goroutines/tiny-pool-fallback", cfg: EngineConfig{Mode: ModeGoroutines, MaxPipes: 1}, tunnels: 3, anyWay: true},
	{name: "stream/tls-foreign", tls: true, foreign: true, cfg: EngineConfig{}, tunnels: 2},
}

// TestForwardData moves a deterministic pseudo-random stream both ways at
// the same time through every kind of tunnel and checks every byte (SHA-256)
// and the Result counts.
func TestForwardData(t *testing.T) {
	size := int64(100 << 20)
	if testing.Short() {
		size = 8 << 20
	}
	for _, tc := range dataCases {
		t.Run(tc.name, func(t *testing.T) {
			e := NewEngine(tc.cfg)
			defer e.Close()
			var wg sync.WaitGroup
			for i := range tc.tunnels {
				wg.Add(1)
				go func() {
					defer wg.Done()
					runDataTunnel(t, e, tc, uint64(i), size)
				}()
			}
			wg.Wait()
			st := e.Stats()
			if st.Lent != 0 {
				t.Errorf("Stats().Lent = %d after all tunnels ended, want 0", st.Lent)
			}
			if tc.cfg.MaxPipes == 1 && st.Fallbacks == 0 {
				t.Errorf("Stats().Fallbacks = 0 with %d tunnels sharing 1 pipe, want > 0", tc.tunnels)
			}
			if tc.cfg.MaxPipes < 0 && (st.Lent|st.Idle != 0 || st.Created|st.Closed|st.Fallbacks != 0) {
				t.Errorf("Stats() = %+v with splicing disabled, want no pipe counted", st)
			}
		})
	}
}

func runDataTunnel(t *testing.T, e *Engine, tc dataCase, seed uint64, size int64) {
	r := newRigWith(t, tc.tls, tc.foreign)
	done := r.forward(context.Background(), e, Options{})

	type recv struct {
		n   int64
		sum [32]byte
		err error
	}
	upSent, downSent := make(chan [32]byte, 1), make(chan [32]byte, 1)
	upGot, downGot := make(chan recv, 1), make(chan recv, 1)
	go func() {
		sum, err := sendPattern(r.clientPeer, 2*seed, size)
		if err != nil {
			t.Errorf("client peer send: %v", err)
		}
		upSent <- sum
	}()
	go func() {
		sum, err := sendPattern(r.backendPeer, 2*seed+1, size)
		if err != nil {
			t.Errorf("backend peer send: %v", err)
		}
		downSent <- sum
	}()
	go func() {
		n, sum, err := recvAll(r.backendPeer)
		upGot <- recv{n, sum, err}
	}()
	go func() {
		n, sum, err := recvAll(r.clientPeer)
		downGot <- recv{n, sum, err}
	}()

	res := waitResult(t, done)
	for _, d := range []struct {
		dir  string
		sent chan [32]byte
		got  chan recv
		n    int64
	}{{"up", upSent, upGot, res.Up}, {"down", downSent, downGot, res.Down}} {
		want, got := <-d.sent, <-d.got
		if got.err != nil {
			t.Errorf("%s: receive: %v", d.dir, got.err)
		}
		if got.n != size || d.n != size {
			t.Errorf("%s: received %d bytes, Result counted %d, want %d", d.dir, got.n, d.n, size)
		}
		if got.sum != want {
			t.Errorf("%s: SHA-256 of received bytes differs from sent", d.dir)
		}
	}
	if res.Reason != ClientClosed && res.Reason != BackendClosed || res.Err != nil {
		t.Errorf("Result = %+v, want a clean close", res)
	}
	if !tc.anyWay && res.Spliced != tc.spliced {
		t.Errorf("Result.Spliced = %v, want %v", res.Spliced, tc.spliced)
	}
}

// TestGoroutineNames checks that a goroutine dump says what each direction
// of a goroutine-driven tunnel and of a stream tunnel is.
func TestGoroutineNames(t *testing.T) {
	for _, tc := range []struct {
		name    string
		foreign bool
		want    []string
	}{
		{"goroutines", false, []string{"(*goDriver).copyClientToBackend", "(*goDriver).copyBackendToClient", "(*goLeg).run"}},
		{"stream", true, []string{"(*tunnel).copyClientToBackend", "(*tunnel).copyBackendToClient", "(*leg).copyStream"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := NewEngine(EngineConfig{Mode: ModeGoroutines})
			defer e.Close()
			r := newRigWith(t, tc.foreign, tc.foreign)
			ctx, cancel := context.WithCancel(context.Background())
			done := r.forward(ctx, e, Options{})
			// One byte through each direction proves both goroutines are running.
			roundTrip(t, r, "x")

			buf := make([]byte, 1<<20)
			dump := string(buf[:runtime.Stack(buf, true)])
			cancel()
			waitResult(t, done)
			for _, name := range tc.want {
				if !strings.Contains(dump, name) {
					t.Errorf("goroutine dump lacks %s", name)
				}
			}
		})
	}
}

// roundTrip sends msg client->backend and back, failing on any mismatch.
func roundTrip(tb testing.TB, r *rig, msg string) {
	tb.Helper()
	buf := make([]byte, len(msg))
	for _, hop := range [][2]net.Conn{{r.clientPeer, r.backendPeer}, {r.backendPeer, r.clientPeer}} {
		if _, err := hop[0].Write([]byte(msg)); err != nil {
			tb.Fatalf("write: %v", err)
		}
		if _, err := io.ReadFull(hop[1], buf); err != nil || string(buf) != msg {
			tb.Fatalf("read %q, %v; want %q", buf, err, msg)
		}
	}
}
