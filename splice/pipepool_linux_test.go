//go:build linux

package splice

import (
	"context"
	"testing"

	"golang.org/x/sys/unix"
)

func TestPipePool(t *testing.T) {
	pp := newPipePool(2, 1<<20)
	defer pp.close()

	a := pp.get()
	if a == nil {
		t.Fatal("get from an empty pool = nil, want a new pipe")
	}
	if a.size < minPipeSize {
		t.Errorf("pipe size = %d, want >= %d", a.size, minPipeSize)
	}
	b := pp.get()
	if c := pp.get(); c != nil || b == nil {
		t.Fatalf("third get with max 2 = %v, want nil (second = %v)", c, b)
	}
	pp.put(a, true)
	if got := pp.get(); got != a {
		t.Errorf("get after put = %p, want the returned pipe %p", got, a)
	}
	pp.put(a, true)
	pp.put(b, false) // may hold bytes: must be closed
	want := EngineStats{Lent: 0, Idle: 1, Created: 2, Closed: 1, Fallbacks: 1}
	if st := pp.stats(); st != want {
		t.Errorf("stats = %+v, want %+v", st, want)
	}
	if _, err := unix.FcntlInt(uintptr(b.r), unix.F_GETPIPE_SZ, 0); err == nil {
		t.Errorf("pipe returned as non-empty is still open")
	}

	if err := pp.close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	if p := pp.get(); p != nil {
		t.Errorf("get after close = %v, want nil", p)
	}
	want = EngineStats{Created: 2, Closed: 2, Fallbacks: 2}
	if st := pp.stats(); st != want {
		t.Errorf("stats after close = %+v, want %+v", st, want)
	}
}

// refuseAbove makes F_SETPIPE_SZ fail with EPERM above limit, like
// pipe-max-size does for unprivileged users, and F_GETPIPE_SZ report
// defaultSize.
func refuseAbove(t *testing.T, limit, defaultSize int) {
	t.Cleanup(func() { fcntlInt = unix.FcntlInt })
	fcntlInt = func(fd uintptr, cmd, arg int) (int, error) {
		switch {
		case cmd == unix.F_SETPIPE_SZ && arg > limit:
			return 0, unix.EPERM
		case cmd == unix.F_GETPIPE_SZ:
			return defaultSize, nil
		}
		return unix.FcntlInt(fd, cmd, arg)
	}
}

func TestPipeSizeFallback(t *testing.T) {
	tests := []struct {
		name             string
		limit, defaultSz int
		want, wantTarget int // want 0: no pipe
		wantFallbacks    uint64
	}{
		{"accepted", 1 << 20, 64 << 10, 1 << 20, 1 << 20, 0},
		{"halved-to-limit", 256 << 10, 64 << 10, 256 << 10, 256 << 10, 0},
		{"kernel-default", 0, 64 << 10, 64 << 10, 64 << 10, 0},
		{"too-small", 0, 8 << 10, 0, 1 << 20, 1}, // pipe-user-pages-soft exceeded
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			refuseAbove(t, tc.limit, tc.defaultSz)
			pp := newPipePool(4, 1<<20)
			defer pp.close()
			p := pp.get()
			got := 0
			if p != nil {
				got = p.size
				pp.put(p, true)
			}
			st := pp.stats()
			if got != tc.want || pp.size != tc.wantTarget || st.Fallbacks != tc.wantFallbacks || st.Lent != 0 {
				t.Errorf("pipe size %d, pool target %d, stats %+v; want %d, %d, %d fallbacks",
					got, pp.size, st, tc.want, tc.wantTarget, tc.wantFallbacks)
			}
			if tc.want == 0 && (st.Created != 0 || pp.get() != nil) {
				t.Errorf("after a refused pipe: stats %+v, want no pipe and no retry before %v", st, createRetry)
			}
		})
	}
}

// TestNoDirtyPipeReuse: a tunnel torn down while a pipe holds bytes it
// cannot deliver closes that pipe; every pipe left idle is empty. Writing
// to a peer that never reads from a source that always has data, the only
// way to make no progress for Idle is to be stuck draining a full pipe.
func TestNoDirtyPipeReuse(t *testing.T) {
	for _, mode := range []Mode{ModeGoroutines, ModeEventLoop} {
		t.Run(mode.String(), func(t *testing.T) {
			e := NewEngine(EngineConfig{Mode: mode})
			defer e.Close()
			r := newRig(t, false)
			done := r.forward(context.Background(), e, Options{Idle: shortIdle})
			go blast(r.backendPeer) // the client peer never reads
			if res := waitResult(t, done); res.Reason != IdleTimeout || !res.Spliced {
				t.Fatalf("Result = %+v, want a spliced tunnel ending in IdleTimeout", res)
			}
			// The tunnel may be stuck with bytes in the pipe (closed, never reused)
			// or in a pending buffer (a copy read found the destination full),
			// depending on timing; it never leaves a dirty pipe idle.
			st := e.Stats()
			if st.Lent != 0 || st.Closed > 1 {
				t.Errorf("Stats() = %+v, want the dirty pipe closed and none lent", st)
			}
			e.pipes.mu.Lock()
			defer e.pipes.mu.Unlock()
			for _, p := range e.pipes.idle {
				if n, err := unix.IoctlGetInt(p.r, unix.TIOCINQ); err != nil || n != 0 {
					t.Errorf("idle pipe holds %d bytes (%v), want 0", n, err)
				}
			}
		})
	}
}
