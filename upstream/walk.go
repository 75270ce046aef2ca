package upstream

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"syscall"

	"github.com/tether-proxy/tether/hashing"
)

// A Walk is one connection's way through the pool's peers, for a caller that connects by
// itself without blocking (an event loop): Next names the peer to connect to and the local
// address to bind, and the caller reports how that went with Connected or Failed. Connect is
// the blocking walk built on it, so both make the same choices: the balancer's order, at most
// one try per peer, nginx's single-peer rule, the next source address when one is out of
// local ports, and no blame for errors that are tether's own.
//
// Start a Walk with Pool.StartWalk and End it; it is not safe for concurrent use.
type Walk struct {
	p      *Pool
	v      *view
	a      *hashing.Attempt
	peer   *Peer      // the peer Next named, nil before the first Next
	src    netip.Addr // the source Next named, invalid for none
	turn   uint32     // peer's rotation over the sources (Peer.SourceTurn)
	srcTry int        // sources of peer tried so far
	peers  int        // peers tried so far
	errs   []error
	done   error // the walk's end, once known
}

// StartWalk begins w for key.
func (p *Pool) StartWalk(w *Walk, key []byte) {
	*w = Walk{p: p, v: p.view.Load(), a: attempts.Get().(*hashing.Attempt)}
	w.v.bal.Start(w.a, key)
}

// End gives back what the walk borrowed. It may be called more than once.
func (w *Walk) End() {
	if w.a != nil {
		attempts.Put(w.a)
		w.a = nil
	}
}

// Next returns the peer to connect to now and the local address to bind (invalid: none), or a
// nil peer once the walk is over; Err then says why. After Failed asks for another try, Next
// may name the same peer again with its next source address.
func (w *Walk) Next() (*Peer, netip.Addr) {
	if w.done != nil {
		return nil, netip.Addr{}
	}
	if w.peer != nil && w.srcTry > 0 { // the same peer from its next source
		if src, ok := w.p.Source(w.peer, w.turn, w.srcTry); ok {
			w.src = src
			return w.peer, src
		}
	}
	if w.peers == len(w.v.peers) {
		return nil, netip.Addr{}
	}
	i := w.v.bal.Next(w.a, (*liveHealth)(w.v))
	if i < 0 {
		w.finish()
		return nil, netip.Addr{}
	}
	w.peers++
	peer := w.v.peers[i]
	peer.picked(clock())
	w.peer, w.srcTry, w.src = peer, 0, netip.Addr{}
	if len(w.p.src[sourceFamily(peer.Addr.Addr())]) > 0 {
		w.turn = peer.SourceTurn()
		w.src, _ = w.p.Source(peer, w.turn, 0)
	}
	return peer, w.src
}

// finish records why the walk is over when no peer is left.
func (w *Walk) finish() {
	if w.done != nil {
		return
	}
	if len(w.errs) == 0 { // every peer down, failed, unhealthy or drained: nothing was dialled
		w.done = fmt.Errorf("upstream %s: %w (every server is down, failed, unhealthy or drained)", w.p.Name, ErrNoPeer)
		return
	}
	w.done = fmt.Errorf("upstream %s: %w: %w", w.p.Name, ErrNoPeer, errors.Join(w.errs...))
}

// Err returns why the walk is over: ErrNoPeer (wrapped) when no peer could be connected, a
// *LocalError when tether itself ran short, or the interrupted connect's error after Abandon.
func (w *Walk) Err() error {
	if w.done == nil {
		w.finish()
	}
	return w.done
}

// Connected records that the connect to the peer Next named succeeded, and returns the lease
// the tunnel holds until it ends. conn may be nil: a drain deadline then only cancels the
// tunnel's context (Lease.CancelOnDrain).
func (w *Walk) Connected(conn net.Conn) *Lease {
	w.peer.succeeded()
	w.done = errWalkConnected
	return w.peer.acquire(conn)
}

var errWalkConnected = errors.New("upstream: the walk connected")

// Failed records that the connect to the peer Next named failed with err, and reports whether
// Next has another try. An error that is tether's own ends the walk with a *LocalError,
// blaming nobody, except that a source out of local ports moves on to the peer's next source.
// Otherwise the failure counts against the peer (max_fails) and is logged to log, and the walk
// moves on to the next peer, unless the upstream has a single peer (nginx: no retry).
func (w *Walk) Failed(err error, log Logger) (again bool) {
	peer := w.peer
	if errors.Is(err, syscall.EADDRNOTAVAIL) && w.src.IsValid() {
		w.srcTry++
		if _, ok := w.p.Source(peer, w.turn, w.srcTry); ok {
			return true
		}
	}
	if le := asLocal(err); le != nil {
		w.done = fmt.Errorf("upstream %s: dial %s (server %s): %w", w.p.Name, peer.addr, peer.Server.Name, le)
		return false
	}
	w.srcTry = 0
	w.errs = append(w.errs, fmt.Errorf("dial %s (server %s): %w", peer.addr, peer.Server.Name, err))
	if w.v.single {
		log.Warn("backend connect failed", "backend", peer.addr, "server", peer.Server.Name, "err", err)
		w.finish() // nginx ngx_stream_upstream_free_round_robin_peer: single peer, no retry
		return false
	}
	fails := peer.failed(clock())
	log.Warn("backend connect failed, trying the next peer", "backend", peer.addr, "server", peer.Server.Name,
		"err", err, "fails", fails, "disabled", peer.Server.MaxFails > 0 && fails >= peer.Server.MaxFails)
	return true
}

// Abandon ends the walk after a connect interrupted by a drain or stop (err), blaming nobody.
func (w *Walk) Abandon(err error) error {
	w.errs = append(w.errs, fmt.Errorf("dial %s (server %s): %w", w.peer.addr, w.peer.Server.Name, err))
	w.done = fmt.Errorf("upstream %s: %w", w.p.Name, errors.Join(w.errs...))
	return w.done
}

// Connect chooses a peer for key and dials it with d. When a connect fails it logs it to log,
// records the failure (max_fails / fail_timeout) and tries the next peer the hash gives, like
// nginx's proxy_next_upstream, at most once per peer. Peers that are down, drained or failing
// their active checks are skipped. The caller must call Release on the returned Lease when the
// tunnel ends. A cancelled ctx stops the loop without blaming the peer, and so does a connect
// that failed for want of tether's own resources: the error is then a *LocalError.
func (p *Pool) Connect(ctx context.Context, key []byte, d Dialer, log Logger) (net.Conn, *Lease, error) {
	var w Walk
	p.StartWalk(&w, key)
	defer w.End()
	for {
		peer, src := w.Next()
		if peer == nil {
			return nil, nil, w.Err()
		}
		conn, err := p.Dial(ctx, d, peer, src)
		if err == nil {
			return conn, w.Connected(conn), nil
		}
		if ctx.Err() != nil {
			return nil, nil, w.Abandon(err)
		}
		if !w.Failed(err, log) {
			return nil, nil, w.Err()
		}
	}
}

// Dial connects to peer with d, from src when it is valid: one try of a Walk, for callers that
// connect by blocking.
func (p *Pool) Dial(ctx context.Context, d Dialer, peer *Peer, src netip.Addr) (net.Conn, error) {
	if !src.IsValid() {
		return d.DialContext(ctx, "tcp", peer.addr)
	}
	sd, ok := d.(SourceDialer)
	if !ok {
		return nil, fmt.Errorf("upstream %s has source addresses but dialer %T cannot bind them", p.Name, d)
	}
	return sd.DialFrom(ctx, src, peer.addr)
}
