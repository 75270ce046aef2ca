package upstream

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// drain is one Drain call in force.
type drain struct {
	until  time.Time     // zero: no deadline
	spread time.Duration // the window the tunnels open at until are closed over
	timer  *time.Timer
	ended  chan struct{} // closed by end: the deadline's closing spree stops
}

// newDrain returns a drain with deadline until (zero: none) and the given spread.
func newDrain(until time.Time, spread time.Duration) *drain {
	return &drain{until: until, spread: spread, ended: make(chan struct{})}
}

// end stops d's deadline timer and any closing in progress: d was replaced or undrained, or its
// pool closed. Called with the pool's mu held; a second call does nothing.
func (d *drain) end() {
	if d.timer != nil {
		d.timer.Stop()
	}
	select {
	case <-d.ended:
	default:
		close(d.ended)
	}
}

// matches reports whether a Drain target names peer: its server line as written, or its
// address.
func matches(target string, peer *Peer) bool {
	return target == peer.Server.Name || target == peer.addr
}

// Drain stops sending new clients to the backends target names: a server as written on its
// server line ("app.internal:3001", every address it resolves to) or one address
// ("10.0.0.7:3001"). Tunnels already open stay until they end or, when deadline is positive,
// until deadline has passed. Then the ones still open are closed (see Lease.CancelOnDrain)
// one by one, evenly over spread (all at once when spread is zero), so that their clients do
// not all reconnect to the other backends in the same instant. A drained backend is skipped
// like `down`, its clients hashed on to the next point of the ring. The drain lasts until
// Undrain and is carried over by reloads. It returns the number of peers drained.
func (p *Pool) Drain(target string, deadline, spread time.Duration) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	peers := p.matching(target)
	if len(peers) == 0 {
		return 0, p.unknownTarget(target)
	}
	if old := p.drains[target]; old != nil {
		old.end()
	}
	var until time.Time
	if deadline > 0 {
		until = time.Now().Add(deadline)
	}
	d := newDrain(until, max(spread, 0))
	p.drains[target] = d
	for _, peer := range peers {
		peer.draining.Store(true)
	}
	if p.started {
		p.armDrain(target, d)
	}
	p.logger().Info("backend draining", "target", target, "peers", len(peers), "deadline", deadline, "spread", d.spread, "tunnels", conns(peers))
	return len(peers), nil
}

// Undrain ends the drain of target: its backends get new clients again (unless another
// drain still names them). It returns the number of peers no longer draining.
func (p *Pool) Undrain(target string) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	d := p.drains[target]
	if d == nil {
		return 0, fmt.Errorf("upstream %s: %q is not draining", p.Name, target)
	}
	d.end()
	delete(p.drains, target)
	n := 0
	for _, peer := range p.matching(target) {
		if !p.drained(peer) {
			peer.draining.Store(false)
			n++
		}
	}
	p.logger().Info("backend undrained", "target", target, "peers", n)
	return n, nil
}

// armDrain starts the deadline timer of d. Called with p.mu held.
func (p *Pool) armDrain(target string, d *drain) {
	if d.until.IsZero() || p.closed {
		return
	}
	d.timer = time.AfterFunc(time.Until(d.until), func() { p.drainDeadline(target, d) })
}

// drainDeadline closes the tunnels still open to the peers of target, evenly over d.spread. It
// stops early when d ends (Undrain, a new Drain of target, the pool closed): the tunnels not
// closed yet stay open.
func (p *Pool) drainDeadline(target string, d *drain) {
	p.mu.Lock()
	if p.closed || p.drains[target] != d {
		p.mu.Unlock()
		return
	}
	var open []*Lease
	for _, peer := range slices.Concat(p.view.Load().peers, p.retired) {
		if matches(target, peer) {
			open = append(open, peer.openLeases()...)
		}
	}
	log := p.logger()
	p.mu.Unlock()
	log.Warn("drain deadline reached, closing tunnels", "target", target, "tunnels", len(open), "spread", d.spread)
	if n, left := closeSpread(open, d.spread, d.ended); left > 0 {
		log.Info("drain ended while closing tunnels", "target", target, "closed", n, "left open", left)
	}
}

// closeSpread ends the tunnels of open, the i-th at i/len(open) of spread from now, until stop is
// closed. It returns how many it ended and how many it left because stop closed first (tunnels
// that ended on their own meanwhile count as neither).
func closeSpread(open []*Lease, spread time.Duration, stop <-chan struct{}) (ended, left int) {
	start := time.Now()
	var wait *time.Timer
	for i, l := range open {
		if due := start.Add(spread * time.Duration(i) / time.Duration(len(open))); time.Until(due) > 0 {
			if wait == nil {
				wait = time.NewTimer(time.Until(due))
				defer wait.Stop()
			} else {
				wait.Reset(time.Until(due))
			}
			select {
			case <-wait.C:
			case <-stop:
				return ended, len(open) - i
			}
		}
		select {
		case <-stop:
			return ended, len(open) - i
		default:
		}
		if l.endDrained() {
			ended++
		}
	}
	return ended, 0
}

// applyDrains sets the draining flag of peers from the drains in force. Called with p.mu held.
func (p *Pool) applyDrains(peers []*Peer) {
	for _, peer := range peers {
		peer.draining.Store(p.drained(peer))
	}
}

// drained reports whether a drain in force names peer. Called with p.mu held.
func (p *Pool) drained(peer *Peer) bool {
	for target := range p.drains {
		if matches(target, peer) {
			return true
		}
	}
	return false
}

// matching returns the current peers target names. Called with p.mu held.
func (p *Pool) matching(target string) []*Peer {
	var out []*Peer
	for _, peer := range p.view.Load().peers {
		if matches(target, peer) {
			out = append(out, peer)
		}
	}
	return out
}

func (p *Pool) unknownTarget(target string) error {
	var names []string
	for _, s := range p.cfg.Servers {
		names = append(names, s.Name)
	}
	return fmt.Errorf("upstream %s: no server or address %q (servers: %s)", p.Name, target, strings.Join(names, ", "))
}

func conns(peers []*Peer) int {
	n := 0
	for _, peer := range peers {
		n += peer.Conns()
	}
	return n
}
