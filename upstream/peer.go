package upstream

import (
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tether-proxy/tether/conf"
)

// Peer is one resolved address of one server line: what nginx calls an rr peer. Several peers
// share a server line when its host name resolved to several addresses. A Peer outlives the
// Pool that made it when a reload keeps its server line and address: the next Pool takes it
// over with its failures, health, drain state and open tunnels.
type Peer struct {
	// Server is the server line it came from; Server.Name is the hash identity. For an SRV
	// line (service=) it is the server the SRV record made: the record's target as Name and
	// Host, its port, weight and priority (see srvServer).
	Server conf.Server
	Addr   netip.AddrPort // the address dialled
	addr   string         // Addr as text, kept to dial without formatting per connection
	line   conf.Server    // the server line as configured (Server, before an SRV record applied)

	// Passive health, as nginx keeps it in ngx_stream_upstream_rr_peer_t
	// (src/stream/ngx_stream_upstream_round_robin.c). Times are Unix nanoseconds.
	fails    atomic.Int32
	accessed atomic.Int64 // last failure
	checked  atomic.Int64 // last failure, or the first pick after fail_timeout (the probe)
	conns    atomic.Int32 // tunnels open to this peer
	total    atomic.Uint64
	bytesUp  atomic.Uint64 // bytes of ended tunnels, client to backend (AddBytes)
	bytesDn  atomic.Uint64 // and backend to client
	srcTurn  atomic.Uint32 // rotates connections over the upstream's source addresses

	unhealthy atomic.Bool // failed its active checks (skipped like down)
	draining  atomic.Bool // drained at runtime (skipped like down; tunnels stay)
	// owner is the Pool whose health checks and drain timers act on the peer: the last one
	// started that holds it. Results of an older Pool's last checks are ignored.
	owner atomic.Pointer[Pool]

	mu     sync.Mutex // guards the fields below
	leases Lease      // sentinel of the ring of open tunnels (see lease.go)
	check  checkState
}

// checkState is the active-check history of a peer.
type checkState struct {
	okRun, failRun int       // consecutive passed / failed checks
	last           time.Time // zero: never checked
	lastErr        string    // "" when the last check passed
}

// newPeer makes the peer of target t of server line s.
func newPeer(s conf.Server, t target) *Peer {
	p := &Peer{Server: t.server, Addr: t.addr, addr: t.addr.String(), line: s}
	p.leases.next, p.leases.prev = &p.leases, &p.leases
	return p
}

// String returns the dial address, e.g. "127.0.0.1:3002".
func (p *Peer) String() string { return p.addr }

// AddBytes counts the bytes an ended tunnel moved each way, for the status page.
func (p *Peer) AddBytes(up, down int64) {
	p.bytesUp.Add(uint64(max(up, 0)))
	p.bytesDn.Add(uint64(max(down, 0)))
}

// Conns returns the number of tunnels currently open to the peer.
func (p *Peer) Conns() int { return int(p.conns.Load()) }

// failedAt reports whether the peer is out of rotation at now: max_fails failures, the last of
// them less than fail_timeout ago (nginx: fails >= max_fails && now - checked <= fail_timeout).
func (p *Peer) failedAt(now int64) bool {
	mf := p.Server.MaxFails
	return mf > 0 && int(p.fails.Load()) >= mf && now-p.checked.Load() <= int64(p.Server.FailTimeout)
}

// picked records that the peer was chosen at now. Once fail_timeout has passed since the last
// check this pick is the probe that decides whether the peer is back (nginx get_*_peer).
func (p *Peer) picked(now int64) {
	if now-p.checked.Load() > int64(p.Server.FailTimeout) {
		p.checked.Store(now)
	}
}

// failed records a failed connect at now (nginx free_peer with NGX_PEER_FAILED) and returns
// the failure count.
func (p *Peer) failed(now int64) int {
	p.accessed.Store(now)
	p.checked.Store(now)
	return int(p.fails.Add(1))
}

// succeeded records a successful connect: a peer that answered its probe is live again
// (nginx: "mark peer live if check passed", accessed < checked).
func (p *Peer) succeeded() {
	if p.fails.Load() != 0 && p.accessed.Load() < p.checked.Load() {
		p.fails.Store(0)
	}
}

// clock is the time source; tests replace it.
var clock = func() int64 { return time.Now().UnixNano() }
