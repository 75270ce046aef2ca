package splice

import (
	"context"
	"io"
	"os"
	"runtime"
	"sync"
	"testing"
	"time"
)

// TestNoLeaks runs many tunnels of mixed kinds and endings, then checks
// that goroutines, fds and pipes all return to the baseline.
func TestNoLeaks(t *testing.T) {
	const tunnels, parallel = 200, 16
	e := NewEngine(EngineConfig{MaxPipes: 8})
	eCopy := NewEngine(EngineConfig{MaxPipes: -1})
	eGo := NewEngine(EngineConfig{Mode: ModeGoroutines, MaxPipes: 4})

	// Warm up lazily started runtime pieces (netpoller, TLS config) first.
	runLeakTunnel(t, e, 0)
	e.Close()
	e.loops.wait() // its loop's epoll fd and eventfd are gone
	e = NewEngine(EngineConfig{MaxPipes: 8})
	baseG, baseFD := runtime.NumGoroutine(), openFDs(t)

	sem := make(chan struct{}, parallel)
	var wg sync.WaitGroup
	for i := range tunnels {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			eng := e
			switch i % 5 {
			case 3:
				eng = eGo
			case 4:
				eng = eCopy
			}
			runLeakTunnel(t, eng, i)
		}()
	}
	wg.Wait()

	if st := e.Stats(); st.Lent != 0 || st.Created == 0 || st.Created-st.Closed != uint64(st.Idle) {
		t.Errorf("Stats() = %+v, want Lent 0, some pipes created, Created-Closed == Idle", st)
	}
	if err := e.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	eCopy.Close()
	eGo.Close()
	for _, eng := range []*Engine{e, eCopy, eGo} {
		eng.loops.wait()
	}
	if st := e.Stats(); st.Idle != 0 || st.Created != st.Closed {
		t.Errorf("Stats() after Close = %+v, want every pipe closed", st)
	}
	if g := settledGoroutines(baseG); g > baseG {
		buf := make([]byte, 1<<20)
		t.Errorf("goroutines: %d after, %d before\n%s", g, baseG, buf[:runtime.Stack(buf, true)])
	}
	if fd := openFDs(t); fd != baseFD {
		t.Errorf("open fds: %d after, %d before", fd, baseFD)
	}
}

// runLeakTunnel runs one tunnel; i picks the kind (plain/TLS) and the ending.
func runLeakTunnel(t *testing.T, e *Engine, i int) {
	r := newRig(t, i%3 == 2)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	opt := Options{Idle: time.Minute}
	ending := (i / 3) % 4
	if ending == 2 {
		opt.Idle = 20 * time.Millisecond
	}
	done := r.forward(ctx, e, opt)
	if ending != 2 {
		// Not before an idle timeout of 20ms: on a loaded machine the round trip itself can
		// take longer, and the tunnel would rightly be gone before the echo (seen in CI).
		roundTrip(t, r, "ping")
	}
	switch ending {
	case 0: // clean close, client first
		closeWriteConn(t, r.clientPeer)
		_, _ = io.ReadAll(r.backendPeer)
		closeWriteConn(t, r.backendPeer)
		_, _ = io.ReadAll(r.clientPeer)
	case 1: // backend reset
		resetConn(t, r.backendPeer)
	case 2: // idle timeout
	case 3: // aborted while busy
		go blast(r.clientPeer)
		cancel()
	}
	res := waitResult(t, done)
	if res.Reason == ReasonUnknown {
		t.Errorf("tunnel %d: Result = %+v, want a reason", i, res)
	}
	r.closePeers()
}

// settledGoroutines polls (bounded) until at most want goroutines remain,
// and returns the last count.
func settledGoroutines(want int) int {
	deadline := time.Now().Add(5 * time.Second)
	for {
		n := runtime.NumGoroutine()
		if n <= want || time.Now().After(deadline) {
			return n
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func openFDs(tb testing.TB) int {
	tb.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		tb.Skipf("cannot count fds: %v", err)
	}
	return len(ents)
}
