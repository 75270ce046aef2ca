package listener

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// Refusal log lines are rate-limited per listener and reason: a flood of refused connections
// (a slowloris, a reconnect storm over max_conns) writes at most refusalLinesPerWindow lines a
// refusalWindow for each reason, and the first line after a quiet spell says how many were
// left out. Every refusal is still counted in tether_connections_refused_total.
const (
	refusalWindow         = time.Second
	refusalLinesPerWindow = 5
)

// refusalLog decides which refusal lines are written.
type refusalLog struct {
	mu      sync.Mutex
	windows map[refusalKey]*refusalCount
}

type refusalKey struct{ listener, reason string }

type refusalCount struct {
	start      time.Time
	logged     int
	suppressed int // refusals left out of the log in the current window
}

// allow reports whether a refusal for key may be logged at now, and how many refusals like it
// were left out of the log since the last line written.
func (r *refusalLog) allow(key refusalKey, now time.Time) (ok bool, suppressed int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.windows == nil {
		r.windows = make(map[refusalKey]*refusalCount)
	}
	w := r.windows[key]
	if w == nil {
		w = &refusalCount{}
		r.windows[key] = w
	}
	if now.Sub(w.start) >= refusalWindow {
		suppressed = w.suppressed
		*w = refusalCount{start: now, logged: 1}
		return true, suppressed
	}
	if w.logged < refusalLinesPerWindow {
		w.logged++
		return true, 0
	}
	w.suppressed++
	return false, 0
}

// reject counts a refused connection by reason and logs it at level, rate-limited (see
// refusalLog). args are the line's attributes after the reason.
func (s *Server) reject(ss *session, level slog.Level, reason string, args ...any) {
	s.refused(ss.rt, reason)
	if !s.log.Enabled(context.Background(), level) {
		return
	}
	ok, suppressed := s.refusals.allow(refusalKey{ss.rt.cfg.Name, reason}, time.Now())
	if !ok {
		return
	}
	attrs := append(make([]any, 0, len(args)+4), "reason", reason)
	attrs = append(attrs, args...)
	if suppressed > 0 {
		attrs = append(attrs, "suppressed", suppressed)
	}
	ss.logger().Log(context.Background(), level, "connection rejected", attrs...)
}
