package upstream

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tether-proxy/tether/balance"
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

// Pool is one upstream's peers and the balancer that chooses among them. It is safe for
// concurrent use. The peers and the balancer form an immutable view that Connect loads once; a
// DNS change of a `resolve` server swaps in a new view atomically.
//
// A Pool built by New serves Connect and Lookup at once. Start runs its background work
// (active health checks, DNS re-resolution, drain deadlines); Close stops it without touching
// tunnels.
type Pool struct {
	Name          string
	ProxyProtocol conf.ProxyProtocol

	cfg    *conf.Upstream
	method balance.Method // the row of package balance's table for cfg.Balance
	r      Resolver       // names without resolve, and resolve names when cfg.Resolvers is empty
	dns    *dnsClient     // resolve names when cfg.Resolvers is set
	src    sources        // the source addresses connections bind, by family
	view   atomic.Pointer[view]
	ttl    []time.Duration // by server line: the TTL of New's answer, for the first re-resolution

	mu      sync.Mutex // guards the fields below and serialises view swaps
	prev    *Pool      // the pool this one replaces, until Start takes its state over
	log     *slog.Logger
	started bool
	closed  bool
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	drains  map[string]*drain // by Drain target
	retired []*Peer           // peers no longer in the view that still had tunnels
	checker *checker
}

// view is one immutable generation of the peer list and its balancer.
type view struct {
	peers  []*Peer
	lines  [][]*Peer // the peers of each server line, by index in cfg.Servers
	bal    balance.Balancer
	single bool // exactly one primary peer: nginx neither counts its failures nor retries it

	sharesOnce sync.Once
	sharesv    []float64
}

// New resolves every server line of u (IPv4 addresses first, then IPv6, as nginx's
// ngx_inet_resolve_host orders them; literals are not looked up) and builds the Pool. Server lines
// become peers in file order, one peer per address, all sharing the line's name on the ring.
//
// prev, when not nil, is the pool this one replaces on a reload: every peer whose server line
// and address are unchanged is carried over (passive failures, active health, open tunnels and
// max_conns accounting, drain state), so a reload neither forgets a dead backend nor
// over-admits. A `resolve` server that fails to resolve keeps prev's addresses. prev keeps
// working until it is closed; call Start on the new pool, then Close on prev.
func New(ctx context.Context, u *conf.Upstream, r Resolver, prev *Pool) (*Pool, error) {
	method, ok := balance.Get(string(u.Balance))
	if !ok {
		return nil, fmt.Errorf("upstream %s: unknown balance %q", u.Name, u.Balance)
	}
	p := &Pool{Name: u.Name, ProxyProtocol: u.ProxyProtocol, cfg: u, r: r, prev: prev,
		method: method, ttl: make([]time.Duration, len(u.Servers)), drains: map[string]*drain{},
		src: newSources(u.Source)}
	if len(u.Resolvers) > 0 {
		p.dns = &dnsClient{servers: u.Resolvers, timeout: dnsTimeout}
	}
	var old *view
	if prev != nil {
		old = prev.view.Load()
	}
	lines := make([][]*Peer, len(u.Servers))
	for i, s := range u.Servers {
		targets, ttl, err := p.lookup(ctx, s)
		if err != nil {
			kept := old.line(s)
			if !s.Resolve || len(kept) == 0 {
				return nil, fmt.Errorf("upstream %s: server %s: %w", u.Name, s.Name, err)
			}
			targets = targetsOf(kept) // keep prev's backends; the resolve loop tries again soon
			ttl = 0
		}
		p.ttl[i] = ttl
		// Peers of an unchanged server line and target are carried over, keeping their
		// positions (see mergeLine).
		lines[i], _, _ = mergeLine(old.line(s), targets, func(t target) *Peer { return newPeer(s, t) })
	}
	v, err := p.newView(lines)
	if err != nil {
		return nil, err
	}
	p.view.Store(v)
	return p, nil
}

// target is one backend a server line leads to: the server as its peer gets it and the
// address dialled. A plain line's targets all carry the line itself; an SRV line's carry the
// server each record makes (see srvServer).
type target struct {
	server conf.Server
	addr   netip.AddrPort
}

// targetsOf returns the targets of existing peers.
func targetsOf(peers []*Peer) []target {
	out := make([]target, len(peers))
	for i, peer := range peers {
		out[i] = target{peer.Server, peer.Addr}
	}
	return out
}

// lookup returns the targets of a server line and, from tether's DNS client, their TTL.
func (p *Pool) lookup(ctx context.Context, s conf.Server) ([]target, time.Duration, error) {
	if s.Service != "" {
		return p.lookupSRV(ctx, s)
	}
	var addrs []netip.Addr
	var ttl time.Duration
	var err error
	if a, perr := netip.ParseAddr(s.Host); perr == nil {
		addrs = []netip.Addr{a.Unmap()}
	} else if s.Resolve && p.dns != nil {
		addrs, ttl, err = p.dns.lookup(ctx, s.Host)
	} else {
		addrs, err = resolve(ctx, p.r, s.Host)
	}
	if err != nil {
		return nil, 0, err
	}
	targets := make([]target, len(addrs))
	for i, a := range addrs {
		targets[i] = target{s, netip.AddrPortFrom(a, s.Port)}
	}
	return targets, ttl, nil
}

func resolve(ctx context.Context, r Resolver, host string) ([]netip.Addr, error) {
	addrs, err := r.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return nil, fmt.Errorf("resolve %s: %w", host, err)
	}
	if len(addrs) == 0 {
		return nil, fmt.Errorf("resolve %s: no addresses", host)
	}
	return orderAddrs(addrs), nil
}

// orderAddrs puts IPv4 addresses first, then IPv6, as ngx_inet_resolve_host does, unmapping
// and dropping duplicates.
func orderAddrs(addrs []netip.Addr) []netip.Addr {
	ordered := make([]netip.Addr, 0, len(addrs))
	add := func(a netip.Addr) {
		for _, o := range ordered {
			if o == a {
				return
			}
		}
		ordered = append(ordered, a)
	}
	for _, a := range addrs {
		if a.Unmap().Is4() {
			add(a.Unmap())
		}
	}
	for _, a := range addrs {
		if !a.Unmap().Is4() {
			add(a)
		}
	}
	return ordered
}

// newView builds the balancer over lines, flattened in server-line order.
func (p *Pool) newView(lines [][]*Peer) (*view, error) {
	v := &view{lines: lines}
	var bp []balance.Peer
	primaries := 0
	for _, line := range lines {
		for _, peer := range line {
			v.peers = append(v.peers, peer)
			s := peer.Server
			bp = append(bp, balance.Peer{Name: s.Name, Weight: s.Weight, Backup: s.Backup, Down: s.Down, ID: s.ID})
			if !s.Backup {
				primaries++
			}
		}
	}
	b, err := balance.New(p.method.Name, bp, balance.Options{Factor: p.cfg.BalanceFactor})
	if err != nil {
		return nil, fmt.Errorf("upstream %s: %w", p.Name, err)
	}
	v.bal = b
	v.single = primaries == 1
	return v, nil
}

// line returns the peers v has for server line s (exactly that line: same name and
// parameters).
func (v *view) line(s conf.Server) []*Peer {
	if v == nil {
		return nil
	}
	for _, line := range v.lines {
		if len(line) > 0 && line[0].line == s {
			return line
		}
	}
	return nil
}

// Peers returns the pool's current peers in server-line order.
func (p *Pool) Peers() []*Peer { return p.view.Load().peers }

// Shares returns each current peer's share of new clients with every peer not marked `down`
// healthy and idle (the balancer's Shares), indexed like Peers.
func (p *Pool) Shares() []float64 { return p.view.Load().shares() }

// Method returns the row of package balance's table the pool balances with: its name and
// traits.
func (p *Pool) Method() balance.Method { return p.method }

// Lookup returns the peer a live connection with hash key would get if every peer that is not
// marked `down` were healthy and idle: the answer of `tether lookup`. It runs the same selection
// code as Connect. It returns nil when no peer is usable.
func (p *Pool) Lookup(key []byte) *Peer {
	v := p.view.Load()
	a := attempts.Get().(*hashing.Attempt)
	defer attempts.Put(a)
	v.bal.Start(a, key)
	i := v.bal.Next(a, configuredHealth(v.peers))
	if i < 0 {
		return nil
	}
	return v.peers[i]
}

// attempts recycles the per-connection selection state: it escapes through the Balancer
// interface, and a connection should not cost an allocation for it.
var attempts = sync.Pool{New: func() any { return new(hashing.Attempt) }}

// Logger is where Connect reports failed connects; *slog.Logger is one.
type Logger interface {
	Warn(msg string, args ...any)
}

// ErrNoPeer is wrapped by Connect's error when no peer could be connected.
var ErrNoPeer = errors.New("no live upstreams")
