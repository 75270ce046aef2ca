package upstream

import (
	"context"
	"slices"
	"time"

	"github.com/tether-proxy/tether/conf"
)

// Re-resolution timing of `resolve` servers.
const (
	// defaultResolveInterval is used when the TTL is unknown (the system resolver does not
	// report it) and resolve_interval is not set.
	defaultResolveInterval = 30 * time.Second
	// minTTL and maxTTL bound the TTL-driven interval: dnsmasq answers from its hosts files
	// with TTL 0 by default, and a huge TTL must not freeze an address set for days.
	minTTL = time.Second
	maxTTL = time.Hour
	// resolveRetry is the wait after a failed re-resolution (at most the normal interval).
	resolveRetry = 5 * time.Second
)

// resolveAfter is the wait before re-resolving a name whose answer had ttl (0: unknown).
func (p *Pool) resolveAfter(ttl time.Duration) time.Duration {
	switch {
	case p.cfg.ResolveInterval > 0:
		return p.cfg.ResolveInterval // like nginx `resolver ... valid=`: overrides the TTL
	case p.dns == nil:
		return defaultResolveInterval
	}
	return min(max(ttl, minTTL), maxTTL)
}

// resolveLoop re-resolves server line i until ctx ends, swapping in a new view when its
// address set changes. On failure the old addresses stay.
func (p *Pool) resolveLoop(ctx context.Context, i int, wait time.Duration) {
	s := p.cfg.Servers[i]
	t := time.NewTimer(wait)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		qctx, cancel := context.WithTimeout(ctx, 2*dnsTimeout*time.Duration(max(len(p.cfg.Resolvers), 1)))
		targets, ttl, err := p.lookup(qctx, s)
		cancel()
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			wait = min(resolveRetry, p.resolveAfter(0))
			p.logger().Warn("re-resolving server failed, keeping its addresses", "server", s.Name, "err", err, "retry_in", wait)
			t.Reset(wait)
			continue
		}
		p.setLine(i, targets)
		t.Reset(p.resolveAfter(ttl))
	}
}

// setLine makes targets the backends of server line i. Targets that stay keep their peer and
// their position; a new target takes the position of a removed one, so with `hash` (plain)
// only the clients of the changed address move as long as the number of addresses is
// unchanged. With `hash consistent` every address of a name shares the name's ring points, so
// the ring never changes: only which address of the name a client of that name gets. (An SRV
// line's targets have a name each: a target that comes or goes changes the ring as adding or
// removing a server line would.)
func (p *Pool) setLine(i int, targets []target) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return
	}
	old := p.view.Load()
	s := p.cfg.Servers[i]
	next, added, removed := mergeLine(old.lines[i], targets, func(t target) *Peer { return p.adopt(s, t) })
	if len(added) == 0 && len(removed) == 0 {
		return
	}
	lines := slices.Clone(old.lines)
	lines[i] = next
	v, err := p.newView(lines)
	if err != nil {
		p.logger().Error("server addresses changed but the hash table cannot be rebuilt; keeping the old ones", "server", s.Name, "err", err)
		return
	}
	p.view.Store(v)
	// Tunnels to a removed address go on; a drain deadline must still reach them.
	p.retired = slices.DeleteFunc(p.retired, func(peer *Peer) bool { return peer.Conns() == 0 })
	for _, peer := range old.lines[i] {
		if peer.Conns() > 0 && !slices.Contains(next, peer) {
			p.retired = append(p.retired, peer)
		}
	}
	p.logger().Info("server addresses changed", "server", s.Name, "added", added, "removed", removed, "addresses", len(next))
}

// mergeLine returns the peers for targets: the peers of cur whose target stays (same server
// as the peer got it, same address) keep their positions, a new target (made by mk) takes the
// position of a removed one, and further new targets come last, in the order given.
func mergeLine(cur []*Peer, targets []target, mk func(target) *Peer) (next []*Peer, added, removed []string) {
	has := func(peer *Peer, t target) bool { return peer.Server == t.server && peer.Addr == t.addr }
	var fresh []target
	for _, t := range targets {
		if !slices.ContainsFunc(cur, func(peer *Peer) bool { return has(peer, t) }) {
			fresh = append(fresh, t)
		}
	}
	for _, peer := range cur {
		if slices.ContainsFunc(targets, func(t target) bool { return has(peer, t) }) {
			next = append(next, peer)
			continue
		}
		removed = append(removed, peer.addr)
		if len(fresh) > 0 {
			next = append(next, mk(fresh[0]))
			added = append(added, fresh[0].addr.String())
			fresh = fresh[1:]
		}
	}
	for _, t := range fresh {
		next = append(next, mk(t))
		added = append(added, t.addr.String())
	}
	return next, added, removed
}

// adopt makes a peer for a new target of server line s, owned by p and drained when a drain
// in force names it. Called with p.mu held.
func (p *Pool) adopt(s conf.Server, t target) *Peer {
	peer := newPeer(s, t)
	peer.owner.Store(p)
	peer.draining.Store(p.drained(peer))
	return peer
}
