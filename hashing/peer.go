package hashing

import "strconv"

// Peer is one entry of nginx's peer list: one resolved address of one `server` line.
// Several peers may share a Name (a host name resolving to several addresses, or a
// duplicated line); in consistent mode they share the Name's ring points and are chosen
// among by smooth weighted round robin, exactly as nginx does.
type Peer struct {
	// Name is the server address text exactly as written on the server line, e.g.
	// "localhost:3002". It is the ring identity: "localhost:3001" and "127.0.0.1:3001" are
	// different ring members. The empty Name is allowed and hashes like nginx would hash it.
	Name string
	// Weight is the server's weight= value; it must be >= 1 (nginx's default is 1, but the
	// zero value is rejected by New so that a forgotten weight is noticed).
	Weight int
	// Backup marks a `backup` server: it gets no ring points and no hash weight and is used
	// only by the round-robin fallback once no primary peer is left. The zero value (false)
	// is a primary peer.
	Backup bool
}

// State is what the caller knows about a peer right now.
type State uint8

// Peer states, as nginx distinguishes them when choosing a peer.
const (
	// Usable is a peer that may be chosen.
	Usable State = iota
	// Down is a `down`, drained or actively unhealthy peer: skipped everywhere.
	Down
	// Failed is a peer that reached max_fails within fail_timeout (nginx's
	// peer->fails/checked rule). It is skipped everywhere except when the upstream has a
	// single primary peer and no backup, where nginx does not look at failures.
	Failed
	// Full is a peer that reached max_conns: skipped everywhere.
	Full
)

// String returns the state's name.
func (s State) String() string {
	switch s {
	case Usable:
		return "usable"
	case Down:
		return "down"
	case Failed:
		return "failed"
	case Full:
		return "full"
	}
	return "state(" + strconv.Itoa(int(s)) + ")"
}

// Health reports the state of peer i (an index into the peers given to New).
// Implementations are supplied by the caller (package upstream); they must be cheap and
// safe for concurrent use. A State other than the four defined ones counts as Down.
type Health interface {
	State(peer int) State
}

// Mode selects the algorithm.
type Mode uint8

// Modes, named after the nginx directive they reproduce.
const (
	// Consistent is nginx `hash KEY consistent;` (ketama).
	Consistent Mode = iota + 1
	// Plain is nginx `hash KEY;`.
	Plain
	// IPHash is nginx http `ip_hash;`: the key is the client address's bytes (4 for an IPv4
	// socket, of which the first 3 count, or 16 for an IPv6 one), not its text.
	IPHash
)

// String returns the mode as nginx spells it in the hash directive.
func (m Mode) String() string {
	switch m {
	case Consistent:
		return "consistent"
	case Plain:
		return "hash"
	case IPHash:
		return "ip_hash"
	}
	return "mode(" + strconv.Itoa(int(m)) + ")"
}
