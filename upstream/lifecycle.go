package upstream

import (
	"context"
	"log/slog"
	"slices"
)

// Start begins the pool's background work, in goroutines of its own that end when ctx is done
// or Close is called: active health checks (when the upstream has a health_check table),
// re-resolution of `resolve` servers, and the deadlines of drains. log receives every state
// change. When the pool replaces another (New's prev), Start takes over prev's drains and the
// peers carried over, whose checks from then on are this pool's; call prev.Close afterwards.
// Start does nothing on a pool already started or closed.
func (p *Pool) Start(ctx context.Context, log *slog.Logger) {
	if log == nil {
		log = slog.Default()
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.started || p.closed {
		return
	}
	p.started = true
	p.log = log.With("upstream", p.Name)
	ctx, p.cancel = context.WithCancel(ctx)
	prev := p.prev
	p.prev = nil

	v := p.view.Load()
	for _, peer := range v.peers {
		peer.owner.Store(p)
		if !p.cfg.HealthCheck.Enabled() {
			// Health found by a previous configuration's checks would never change again.
			peer.unhealthy.Store(false)
		}
	}
	if prev != nil {
		p.takeOver(prev, v)
	}
	p.applyDrains(v.peers)
	for target, d := range p.drains {
		p.armDrain(target, d)
	}

	if p.cfg.HealthCheck.Enabled() {
		p.checker = newChecker(&p.cfg.HealthCheck, p.Name, p.ProxyProtocol, p.src)
		p.wg.Go(func() { p.checkLoop(ctx) })
	}
	for i, s := range p.cfg.Servers {
		if s.Resolve {
			p.wg.Go(func() { p.resolveLoop(ctx, i, p.resolveAfter(p.ttl[i])) })
		}
	}
}

// takeOver copies prev's drains and the peers of prev that still have tunnels but are not in
// v, so that drain deadlines keep reaching them. Called with p.mu held.
func (p *Pool) takeOver(prev *Pool, v *view) {
	prev.mu.Lock()
	defer prev.mu.Unlock()
	for target, d := range prev.drains {
		p.drains[target] = newDrain(d.until, d.spread)
	}
	gone := slices.Concat(prev.retired, prev.view.Load().peers)
	for _, peer := range gone {
		if peer.Conns() > 0 && !slices.Contains(v.peers, peer) && !slices.Contains(p.retired, peer) {
			p.retired = append(p.retired, peer)
		}
	}
}

// Close stops the pool's background work and waits for it to end. Tunnels are not touched:
// they go on, and a pool that took this one's peers over keeps accounting for them. Close may be
// called more than once, and on a pool never started.
func (p *Pool) Close() {
	p.mu.Lock()
	p.closed = true
	p.prev = nil
	if p.cancel != nil {
		p.cancel()
	}
	for _, d := range p.drains {
		d.end()
	}
	c := p.checker
	p.mu.Unlock()
	p.wg.Wait()
	if c != nil {
		c.close()
	}
}
