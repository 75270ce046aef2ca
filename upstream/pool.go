package upstream

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"

	"github.com/tether-proxy/tether/conf"
	"github.com/tether-proxy/tether/hashing"
)

// Resolver turns a server line's host name into addresses. *net.Resolver satisfies it.
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// Dialer opens a connection to a peer. *net.Dialer satisfies it; its Timeout is the connect
// timeout of each attempt.
type Dialer interface {
	DialContext(ctx context.Context, network, address string) (net.Conn, error)
}

// Pool is one upstream's peers and the hash table that chooses among them. It is safe for
// concurrent use; the peer list is fixed for the Pool's life (a reload builds a new Pool).
type Pool struct {
	Name          string
	ProxyProtocol conf.ProxyProtocol

	peers  []*Peer
	table  *hashing.Table
	single bool // exactly one primary peer: nginx neither counts its failures nor retries it
}

// New resolves every server line of u (IPv4 addresses first, then IPv6, as nginx's
// ngx_inet_resolve_host orders them; literals are not looked up) and builds the Pool. Server lines
// become peers in file order, one peer per address, all sharing the line's name on the ring.
func New(ctx context.Context, u *conf.Upstream, r Resolver) (*Pool, error) {
	p := &Pool{Name: u.Name, ProxyProtocol: u.ProxyProtocol}
	var hp []hashing.Peer
	primaries := 0
	for _, s := range u.Servers {
		addrs, err := resolve(ctx, r, s.Host)
		if err != nil {
			return nil, fmt.Errorf("upstream %s: server %s: %w", u.Name, s.Name, err)
		}
		for _, a := range addrs {
			ap := netip.AddrPortFrom(a, s.Port)
			p.peers = append(p.peers, &Peer{Server: s, Addr: ap, addr: ap.String()})
			hp = append(hp, hashing.Peer{Name: s.Name, Weight: s.Weight, Backup: s.Backup})
			if !s.Backup {
				primaries++
			}
		}
	}
	mode := hashing.Consistent
	if u.Balance == conf.BalanceHash {
		mode = hashing.Plain
	}
	t, err := hashing.New(mode, hp)
	if err != nil {
		return nil, fmt.Errorf("upstream %s: %w", u.Name, err)
	}
	p.table = t
	p.single = primaries == 1
	return p, nil
}

func resolve(ctx context.Context, r Resolver, host string) ([]netip.Addr, error) {
	if a, err := netip.ParseAddr(host); err == nil {
		return []netip.Addr{a.Unmap()}, nil
	}
	addrs, err := r.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return nil, fmt.Errorf("resolve %s: %w", host, err)
	}
	if len(addrs) == 0 {
		return nil, fmt.Errorf("resolve %s: no addresses", host)
	}
	ordered := make([]netip.Addr, 0, len(addrs))
	for _, a := range addrs {
		if a.Unmap().Is4() {
			ordered = append(ordered, a.Unmap())
		}
	}
	for _, a := range addrs {
		if !a.Unmap().Is4() {
			ordered = append(ordered, a)
		}
	}
	return ordered, nil
}

// Peers returns the pool's peers in server-line order.
func (p *Pool) Peers() []*Peer { return p.peers }

// Table returns the hash table, e.g. for ring shares.
func (p *Pool) Table() *hashing.Table { return p.table }

// Lookup returns the peer a live connection with hash key would get if every peer that is not
// marked `down` were healthy: the answer of `tether lookup`. It runs the same selection code as
// Connect. It returns nil when no peer is usable.
func (p *Pool) Lookup(key []byte) *Peer {
	var a hashing.Attempt
	p.table.Start(&a, key)
	i := p.table.Next(&a, configuredHealth(p.peers))
	if i < 0 {
		return nil
	}
	return p.peers[i]
}

// ErrNoPeer is wrapped by Connect's error when no peer could be connected.
var ErrNoPeer = errors.New("no live upstreams")

// Connect chooses a peer for key and dials it with d. When a connect fails it logs it to log,
// records the failure (max_fails / fail_timeout) and tries the next peer the hash gives, like
// nginx's proxy_next_upstream, at most once per peer. The caller must call Release on the
// returned peer when the tunnel ends. A cancelled ctx stops the loop without blaming the peer.
func (p *Pool) Connect(ctx context.Context, key []byte, d Dialer, log *slog.Logger) (net.Conn, *Peer, error) {
	var a hashing.Attempt
	p.table.Start(&a, key)
	var errs []error
	for range len(p.peers) {
		h := healthAt{peers: p.peers, now: clock()}
		i := p.table.Next(&a, &h)
		if i < 0 {
			break
		}
		peer := p.peers[i]
		peer.picked(h.now)
		conn, err := d.DialContext(ctx, "tcp", peer.addr)
		if err == nil {
			peer.conns.Add(1)
			peer.succeeded()
			return conn, peer, nil
		}
		errs = append(errs, fmt.Errorf("dial %s (server %s): %w", peer.addr, peer.Server.Name, err))
		if ctx.Err() != nil {
			return nil, nil, fmt.Errorf("upstream %s: %w", p.Name, errors.Join(errs...))
		}
		if p.single {
			log.Warn("backend connect failed", "backend", peer.addr, "server", peer.Server.Name, "err", err)
			break // nginx ngx_stream_upstream_free_round_robin_peer: single peer, no retry
		}
		fails := peer.failed(clock())
		log.Warn("backend connect failed, trying the next peer", "backend", peer.addr, "server", peer.Server.Name,
			"err", err, "fails", fails, "disabled", peer.Server.MaxFails > 0 && fails >= peer.Server.MaxFails)
	}
	return nil, nil, fmt.Errorf("upstream %s: %w: %w", p.Name, ErrNoPeer, errors.Join(errs...))
}

// Release ends one tunnel's hold on peer (max_conns accounting).
func (p *Peer) Release() { p.conns.Add(-1) }
