package listener

import (
	"net/netip"
	"sync"
)

// admit applies the process-wide and the listener's connection caps to a new connection. It
// returns the reason it was refused, or "" when the connection is counted (release it with done).
func (l *listener) admit(rt *route) (reason string) {
	s := l.srv
	if max := s.maxConns.Load(); max > 0 && s.active.Load() > max {
		return "max_conns"
	}
	n := l.active.Add(1)
	if rt.cfg.MaxConns > 0 && n > int64(rt.cfg.MaxConns) {
		l.active.Add(-1)
		return "listener max_conns"
	}
	return ""
}

func (l *listener) done() { l.active.Add(-1) }

// clientCounts counts one listener's open connections per client address.
type clientCounts struct {
	mu sync.Mutex
	n  map[netip.Addr]int
}

// acquire counts a connection from ip unless ip already has max open.
func (c *clientCounts) acquire(ip netip.Addr, max int) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n == nil {
		c.n = make(map[netip.Addr]int)
	}
	if c.n[ip] >= max {
		return false
	}
	c.n[ip]++
	return true
}

func (c *clientCounts) release(ip netip.Addr) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n[ip] <= 1 {
		delete(c.n, ip)
		return
	}
	c.n[ip]--
}
