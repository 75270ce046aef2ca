package listener

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// Refusal log lines are rate-limited per listener and reason: a flood of refused connections
// (a slowloris, a reconnect storm over max_conns) writes a burst of refusalBurst lines, then
// refusalRate lines a second for each reason, and the first line after lines were left out
// says how many. Every refusal is still counted in tether_connections_refused_total.
const (
	refusalBurst = 20
	refusalRate  = 5 // lines a second, once the burst is spent
)

// refusalLog decides which refusal lines are written: a token bucket per key.
type refusalLog struct {
	mu      sync.Mutex
	buckets map[refusalKey]*refusalBucket
}

type refusalKey struct{ listener, reason string }

type refusalBucket struct {
	tokens     float64
	at         time.Time // when tokens was last brought up to date
	suppressed int       // refusals left out of the log since the last line written
}

// allow reports whether a refusal for key may be logged at now, and how many refusals like it
// were left out of the log since the last line written.
func (r *refusalLog) allow(key refusalKey, now time.Time) (ok bool, suppressed int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.buckets == nil {
		r.buckets = make(map[refusalKey]*refusalBucket)
	}
	b := r.buckets[key]
	if b == nil {
		b = &refusalBucket{tokens: refusalBurst, at: now}
		r.buckets[key] = b
	}
	b.tokens = min(refusalBurst, b.tokens+now.Sub(b.at).Seconds()*refusalRate)
	b.at = now
	if b.tokens < 1 {
		b.suppressed++
		return false, 0
	}
	b.tokens--
	suppressed, b.suppressed = b.suppressed, 0
	return true, suppressed
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
