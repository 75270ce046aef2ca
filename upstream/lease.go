package upstream

import (
	"context"
	"errors"
	"net"
)

// ErrDrained is the cause given to a tunnel's cancel function (see [Lease.CancelOnDrain]) when
// the drain deadline of its backend closes it.
var ErrDrained = errors.New("backend drained")

// Lease is one tunnel's hold on a peer, returned by [Pool.Connect]: it counts towards the peer's
// max_conns and active tunnels until Release, and lets a drain deadline close the tunnel. It
// embeds the Peer, so lease.String() and lease.Server.Name describe the backend.
type Lease struct {
	*Peer
	prev, next *Lease // ring of the peer's open tunnels, guarded by Peer.mu
	conn       net.Conn
	cancel     context.CancelCauseFunc
	done       bool // released
	drained    bool // closed by a drain deadline
}

// acquire registers a tunnel to p over conn.
func (p *Peer) acquire(conn net.Conn) *Lease {
	l := &Lease{Peer: p, conn: conn}
	p.conns.Add(1)
	p.total.Add(1)
	p.mu.Lock()
	l.prev, l.next = p.leases.prev, &p.leases
	l.prev.next, p.leases.prev = l, l
	p.mu.Unlock()
	return l
}

// Release ends the tunnel's hold on the peer. It may be called more than once.
func (l *Lease) Release() {
	p := l.Peer
	p.mu.Lock()
	if l.done {
		p.mu.Unlock()
		return
	}
	l.done = true
	l.prev.next, l.next.prev = l.next, l.prev
	l.prev, l.next = nil, nil
	p.mu.Unlock()
	p.conns.Add(-1)
}

// CancelOnDrain makes a drain deadline end the tunnel by calling cancel(ErrDrained) (so the
// tunnel's owner can log why) instead of closing the backend connection.
func (l *Lease) CancelOnDrain(cancel context.CancelCauseFunc) {
	l.Peer.mu.Lock()
	l.cancel = cancel
	l.conn = nil // not needed to end the tunnel any more; the engine may have given it up
	l.Peer.mu.Unlock()
}

// Fail records a failure of the peer after its connect succeeded (it did not answer in time),
// counted towards max_fails / fail_timeout like a failed connect, and returns the count.
func (l *Lease) Fail() int { return l.Peer.failed(clock()) }

// openLeases returns the leases of p's open tunnels, oldest first.
func (p *Peer) openLeases() []*Lease {
	p.mu.Lock()
	defer p.mu.Unlock()
	var open []*Lease
	for l := p.leases.next; l != &p.leases; l = l.next {
		open = append(open, l)
	}
	return open
}

// endDrained ends the tunnel because its backend's drain deadline passed, unless it has
// already been released. It reports whether it ended it.
func (l *Lease) endDrained() bool {
	p := l.Peer
	p.mu.Lock()
	if l.done {
		p.mu.Unlock()
		return false
	}
	l.drained = true
	conn, cancel := l.conn, l.cancel
	p.mu.Unlock()
	if cancel != nil {
		cancel(ErrDrained)
	} else {
		conn.Close()
	}
	return true
}
