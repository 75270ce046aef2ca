package admin

import (
	"os"
	"runtime"
	"testing"
	"time"

	"github.com/tether-proxy/tether/listener"
)

// TestRecorderKeepsTheWindow: the recorder sums the listeners' active and accepted counts and
// keeps only the last window/interval samples, oldest first; a nil recorder has no history.
func TestRecorderKeepsTheWindow(t *testing.T) {
	st := &statusTarget{}
	r := NewRecorder(st, 10*time.Second, 30*time.Second) // 3 points
	t0 := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	for i := range 5 {
		st.st = listener.Status{Listeners: []listener.ListenerStatus{{Active: int64(i), Accepted: uint64(10 * i)}, {Active: 1, Accepted: 1}}}
		r.sample(t0.Add(time.Duration(i) * 10 * time.Second))
	}
	h := r.history()
	if h.IntervalSeconds != 10 || len(h.Points) != 3 {
		t.Fatalf("history %+v, want 3 points 10s apart", h)
	}
	for j, p := range h.Points {
		i := j + 2
		if !p.Time.Equal(t0.Add(time.Duration(i)*10*time.Second)) || p.Active != int64(i)+1 || p.Accepted != uint64(10*i)+1 {
			t.Errorf("point %d = %+v, want sample %d", j, p, i)
		}
	}
	var none *Recorder
	if none.history() != nil {
		t.Fatal("a nil recorder has a history")
	}
}

// TestReadProcess: the process figures are this process's (pid, goroutines, an fd count under
// its limit, resident memory on Linux).
func TestReadProcess(t *testing.T) {
	start := time.Now().Add(-time.Minute)
	p := readProcess("v9", start, time.Now())
	if p.Version != "v9" || p.PID != os.Getpid() || p.UptimeSeconds < 60 || p.Goroutines < 1 || p.MaxFDs == 0 {
		t.Fatalf("%+v", p)
	}
	if runtime.GOOS == "linux" && (p.RSSBytes <= 0 || p.OpenFDs < 3 || uint64(p.OpenFDs) > p.MaxFDs) {
		t.Fatalf("on Linux: %+v", p)
	}
}
