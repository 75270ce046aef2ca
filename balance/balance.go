package balance

import (
	"fmt"
	"slices"

	"github.com/tether-proxy/tether/hashing"
)

// Peer is one peer as a balancer sees it: one resolved address of one server line.
type Peer struct {
	// Name is the server line's address as written; the nginx ring identity.
	Name string
	// Weight is the server's weight, >= 1.
	Weight int
	// Backup marks a backup server, used only once no primary server is usable.
	Backup bool
	// Down marks a server configured `down` (HAProxy `disabled`): never chosen. A Balancer
	// sees it again through State, but HAProxy's map still counts its weight in the divisor of
	// all weights, so the peer list must include it.
	Down bool
	// ID is the HAProxy server id (`id N`); 0 means HAProxy's automatic numbering.
	ID int
}

// State is what a balancer may ask about peer i (an index into the peers given to New) while
// it chooses: its health, and its open tunnels. Implementations must be cheap and safe for
// concurrent use.
type State interface {
	hashing.Health
	// Conns returns the tunnels open to peer i now.
	Conns(peer int) int
}

// Balancer chooses the peers of one connection. Implementations are safe for concurrent use.
type Balancer interface {
	// Start begins one connection's choice in a; key is the request key (empty for methods
	// whose Key is KeyNone). It copies key.
	Start(a *hashing.Attempt, key []byte)
	// Next returns the index of the next peer to try, or -1 when none is left; after a failed
	// connect the caller calls it again. A peer is returned at most once per attempt.
	Next(a *hashing.Attempt, s State) int
	// Shares returns each peer's share of new clients when every peer not configured down is
	// healthy and idle, indexed like the peers given to New; backup peers get 0.
	Shares() []float64
}

// Key is what a method reads from a connection to choose.
type Key uint8

// Keys.
const (
	// KeyNone: the choice depends on load alone.
	KeyNone Key = iota
	// KeyText: nginx's $remote_addr text (hashing.AppendRemoteAddr), or a listener's
	// hash_key.
	KeyText
	// KeyAddress: the client address's bytes, 4 for a client on an IPv4 socket and 16 on an
	// IPv6 one (an IPv4 client there is ::ffff:a.b.c.d), as nginx ip_hash and HAProxy
	// `balance source` read the socket address. A listener's hash_key cannot apply.
	KeyAddress
)

// Options are the settings of an upstream a balancer reads besides its peers.
type Options struct {
	// Factor is balance_factor, a percentage >= 100 (HAProxy hash-balance-factor); 0 means
	// unbounded. Only methods whose Factor trait is set accept it.
	Factor int
}

// Method is one row of the table: how to build the balancer of a `balance` name, and its
// traits.
type Method struct {
	// Name is the `balance` value.
	Name string
	// New builds the balancer over peers in list order (server lines in file order, each
	// line's addresses in resolution order).
	New func(peers []Peer, o Options) (Balancer, error)
	// Key is what the method reads from a connection.
	Key Key
	// Lookup: a client's backend depends on its key and the configuration alone, so `tether
	// lookup` can name it.
	Lookup bool
	// Diff: `tether diff` can tell which clients a configuration change moves.
	Diff bool
	// Factor: balance_factor (bounded load) applies.
	Factor bool
	// IDs: servers may carry HAProxy's `id=N`.
	IDs bool
	// Reproduces names the nginx or HAProxy configuration whose choices the method
	// reproduces.
	Reproduces string
}

// methods is the table, the default method first.
var methods = []Method{
	{Name: "hash-consistent", New: nginxHash(hashing.Consistent), Key: KeyText, Lookup: true, Diff: true, Factor: true,
		Reproduces: "nginx `hash $remote_addr consistent;`"},
	{Name: "hash", New: nginxHash(hashing.Plain), Key: KeyText, Lookup: true, Diff: true,
		Reproduces: "nginx `hash $remote_addr;`"},
	{Name: "ip-hash", New: nginxHash(hashing.IPHash), Key: KeyAddress, Lookup: true, Diff: true,
		Reproduces: "nginx `ip_hash;`"},
	{Name: "least-conn", New: newLeastConn, Key: KeyNone,
		Reproduces: "nginx `least_conn;`"},
	{Name: "source", New: newSourceMap, Key: KeyAddress, Lookup: true, Diff: true, IDs: true,
		Reproduces: "HAProxy 2.6 `balance source` (hash-type map-based)"},
	{Name: "source-consistent", New: newSourceChash, Key: KeyAddress, Lookup: true, Diff: true, Factor: true, IDs: true,
		Reproduces: "HAProxy 2.6 `balance source` with `hash-type consistent`"},
}

// Get returns the method named name.
func Get(name string) (Method, bool) {
	for _, m := range methods {
		if m.Name == name {
			return m, true
		}
	}
	return Method{}, false
}

// Names returns the method names, the default one first.
func Names() []string {
	names := make([]string, len(methods))
	for i, m := range methods {
		names[i] = m.Name
	}
	return names
}

// New builds the balancer of the method named name.
func New(name string, peers []Peer, o Options) (Balancer, error) {
	m, ok := Get(name)
	if !ok {
		return nil, fmt.Errorf("balance: unknown method %q (known: %v)", name, Names())
	}
	if o.Factor != 0 && !m.Factor {
		return nil, fmt.Errorf("balance: %s takes no balance_factor", name)
	}
	if o.Factor != 0 && o.Factor < 100 {
		return nil, fmt.Errorf("balance: balance_factor %d < 100", o.Factor)
	}
	if !slices.ContainsFunc(peers, func(p Peer) bool { return !p.Backup }) {
		return nil, fmt.Errorf("balance: %w", hashing.ErrNoPeers)
	}
	for _, p := range peers {
		if p.Weight < 1 {
			return nil, fmt.Errorf("balance: server %q: weight %d < 1", p.Name, p.Weight)
		}
	}
	return m.New(peers, o)
}
