// Package upstream is the live side of one `[upstreams.NAME]` block: the resolved backend
// peers, their health, the balancer that chooses among them (built from package balance's table
// by the upstream's `balance` name; the pool knows only the balance.Balancer interface), and the
// dial loop that tries the next peer when a connect fails, the way nginx's proxy_next_upstream
// does for a stream upstream.
//
// Health has three sources, and a peer failing any of them is skipped the way nginx skips a
// `down` server (the client is hashed on to the next point of the ring):
//
//   - passive, exactly as nginx: max_fails refused connects within fail_timeout take a peer
//     out for fail_timeout, then one client probes it (peer.go);
//   - active, optional: TCP connect or HTTP GET checks every interval, with HAProxy's rise and
//     fall (check.go);
//   - operator: Drain stops new clients to a backend while its tunnels go on, until they end
//     or a deadline closes them (drain.go).
//
// Servers marked `resolve` are looked up again while tether runs (resolve.go): with a
// configured `resolver`, by a small RFC 1035 client that learns the TTL (dns.go, dnsmsg.go);
// otherwise by the system resolver every resolve_interval. The peers and the balancer form an
// immutable view swapped atomically, and with `hash consistent` the ring does not change when
// a name's addresses do, so only the clients of a removed address move.
//
// A reload builds a new Pool from the old one (New's prev): peers whose server line and address
// are unchanged are carried over with their failures, health, drain state and open tunnels.
// Snapshot reports every peer for the status page and metrics.
package upstream
