package upstream

import (
	"log/slog"
	"time"
)

// PeerState is a peer's state as the status page and metrics show it.
type PeerState string

// Peer states, most decisive first: a peer in several states shows the first.
const (
	// StateDown is a server marked `down` in the configuration.
	StateDown PeerState = "down"
	// StateDraining is a peer drained at runtime: no new clients, tunnels stay.
	StateDraining PeerState = "draining"
	// StateUnhealthy is a peer failing its active health checks.
	StateUnhealthy PeerState = "unhealthy"
	// StateFailed is a peer out of rotation after max_fails failed connects within
	// fail_timeout (passive health).
	StateFailed PeerState = "failed"
	// StateUp is a peer that gets clients.
	StateUp PeerState = "up"
)

// PeerStatus is one peer at one instant, for the status page and metrics. Its JSON keys are
// snake_case like the rest of /status.json; the two times are left out while they are zero.
type PeerStatus struct {
	Server   string    `json:"server"` // the server line's address as written: the hash identity
	Addr     string    `json:"addr"`   // the address dialled
	State    PeerState `json:"state"`
	Backup   bool      `json:"backup"`
	Weight   int       `json:"weight"`
	MaxConns int       `json:"max_conns"` // 0: unlimited
	Active   int       `json:"active"`    // tunnels open now
	Total    uint64    `json:"total"`     // tunnels opened since the peer appeared (a reload keeps counting)
	Fails    int       `json:"fails"`     // failed connects counted for max_fails
	Share    float64   `json:"share"`     // the peer's share of new clients (balance.Balancer.Shares), health aside
	// Bytes moved by the peer's ended tunnels, each way (up: client to backend), since it
	// appeared; a tunnel's bytes count when it ends.
	BytesUp   uint64 `json:"bytes_up"`
	BytesDown uint64 `json:"bytes_down"`

	// Active health checks; Checked is false without checks or before the first.
	Checked   bool      `json:"checked"`
	LastCheck time.Time `json:"last_check,omitzero"`
	CheckOK   bool      `json:"check_ok"`
	CheckErr  string    `json:"check_error"` // why the last check failed

	DrainDeadline time.Time `json:"drain_deadline,omitzero"` // zero: not draining, or no deadline
}

// Snapshot returns the status of every current peer, in server-line order.
func (p *Pool) Snapshot() []PeerStatus {
	v := p.view.Load()
	shares := v.shares()
	now := clock()
	p.mu.Lock()
	deadlines := make(map[string]time.Time, len(p.drains))
	for target, d := range p.drains {
		deadlines[target] = d.until
	}
	p.mu.Unlock()
	out := make([]PeerStatus, len(v.peers))
	for i, peer := range v.peers {
		s := peer.Server
		st := PeerStatus{
			Server: s.Name, Addr: peer.addr, Backup: s.Backup, Weight: s.Weight, MaxConns: s.MaxConns,
			Active: peer.Conns(), Total: peer.total.Load(), Fails: int(peer.fails.Load()), Share: shares[i],
			BytesUp: peer.bytesUp.Load(), BytesDown: peer.bytesDn.Load(),
		}
		switch {
		case s.Down:
			st.State = StateDown
		case peer.draining.Load():
			st.State = StateDraining
		case peer.unhealthy.Load():
			st.State = StateUnhealthy
		case peer.failedAt(now):
			st.State = StateFailed
		default:
			st.State = StateUp
		}
		if st.State == StateDraining {
			for target, until := range deadlines {
				if matches(target, peer) && !until.IsZero() && (st.DrainDeadline.IsZero() || until.Before(st.DrainDeadline)) {
					st.DrainDeadline = until
				}
			}
		}
		peer.mu.Lock()
		if !peer.check.last.IsZero() {
			st.Checked, st.LastCheck, st.CheckOK, st.CheckErr = true, peer.check.last, peer.check.lastErr == "", peer.check.lastErr
		}
		peer.mu.Unlock()
		out[i] = st
	}
	return out
}

// logger returns the logger given to Start, or the default one. Called with p.mu held or
// after Start.
func (p *Pool) logger() *slog.Logger {
	if p.log != nil {
		return p.log
	}
	return slog.Default().With("upstream", p.Name)
}

// shares computes the balancer's shares once per view.
func (v *view) shares() []float64 {
	v.sharesOnce.Do(func() { v.sharesv = v.bal.Shares() })
	return v.sharesv
}
