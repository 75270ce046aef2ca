package admin

import (
	"sync"
	"time"
)

// Recorder samples the proxy's totals at a fixed interval and keeps the last points, so the
// status page can draw the last 15 minutes as soon as it opens. The zero value is not usable;
// a nil *Recorder records nothing.
type Recorder struct {
	t     Target
	every time.Duration

	mu     sync.Mutex
	points []Point // oldest first, at most cap(points)
}

// Point is one sample: the connections being served and the connections accepted so far,
// summed over the listeners.
type Point struct {
	Time     time.Time `json:"time"`
	Active   int64     `json:"active"`
	Accepted uint64    `json:"accepted"`
}

// historyDoc is the history in /status.json.
type historyDoc struct {
	IntervalSeconds float64 `json:"interval_seconds"`
	Points          []Point `json:"points"`
}

// NewRecorder returns a Recorder of t that keeps window's worth of samples taken every every.
func NewRecorder(t Target, every, window time.Duration) *Recorder {
	n := max(int(window/every), 1)
	return &Recorder{t: t, every: every, points: make([]Point, 0, n)}
}

// Run samples at once and then every interval until stop is closed.
func (r *Recorder) Run(stop <-chan struct{}) {
	tick := time.NewTicker(r.every)
	defer tick.Stop()
	for {
		r.sample(time.Now())
		select {
		case <-stop:
			return
		case <-tick.C:
		}
	}
}

func (r *Recorder) sample(now time.Time) {
	st := r.t.Status()
	p := Point{Time: now}
	for _, l := range st.Listeners {
		p.Active += l.Active
		p.Accepted += l.Accepted
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.points) == cap(r.points) {
		copy(r.points, r.points[1:])
		r.points = r.points[:len(r.points)-1]
	}
	r.points = append(r.points, p)
}

// history returns a copy of the points, or nil for a nil Recorder.
func (r *Recorder) history() *historyDoc {
	if r == nil {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return &historyDoc{IntervalSeconds: r.every.Seconds(), Points: append([]Point(nil), r.points...)}
}
