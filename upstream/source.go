package upstream

import (
	"context"
	"net"
	"net/netip"
)

// SourceDialer is a Dialer that can also bind a local address before it connects; it is
// needed by upstreams with `source` addresses. *NetDialer is one.
type SourceDialer interface {
	Dialer
	// DialFrom connects to address from the local address src; the kernel picks the port at
	// connect time, for the (src, address) pair.
	DialFrom(ctx context.Context, src netip.Addr, address string) (net.Conn, error)
}

// NetDialer is the dialer tether connects to backends with: a net.Dialer (its Timeout is the
// connect timeout of each attempt) that can bind a source address.
type NetDialer struct {
	net.Dialer
}

var _ SourceDialer = (*NetDialer)(nil)

// DialFrom binds src with IP_BIND_ADDRESS_NO_PORT (Linux), so that bind reserves no port and
// connect picks one unique for the four-tuple: each (source, backend) pair has the whole
// ephemeral range, not each source alone (HAProxy and nginx's proxy_bind do the same).
func (d *NetDialer) DialFrom(ctx context.Context, src netip.Addr, address string) (net.Conn, error) {
	nd := d.Dialer
	nd.LocalAddr = net.TCPAddrFromAddrPort(netip.AddrPortFrom(src, 0))
	nd.Control = bindAddressNoPort
	return nd.DialContext(ctx, "tcp", address)
}

// sources are an upstream's source addresses by family: [0] IPv4, [1] IPv6.
type sources [2][]netip.Addr

func newSources(addrs []netip.Addr) sources {
	var s sources
	for _, a := range addrs {
		s[sourceFamily(a)] = append(s[sourceFamily(a)], a)
	}
	return s
}

func sourceFamily(a netip.Addr) int {
	if a.Unmap().Is4() {
		return 0
	}
	return 1
}

// Source returns the local address the try'th attempt (0 first) of one connection to peer
// binds, and false when there is none: the upstream has no source of the peer's family (it is
// then dialled without one), or every source has been tried. turn is [Peer.SourceTurn], taken
// once per connection: it rotates each peer's connections over the sources, so each carries an
// even share. An attempt that fails with EADDRNOTAVAIL (no local port left for that pair)
// tries the next one. This is the whole source choice, kept apart from dialling so an
// event-loop connect can share it.
func (p *Pool) Source(peer *Peer, turn uint32, try int) (netip.Addr, bool) {
	list := p.src[sourceFamily(peer.Addr.Addr())]
	if try >= len(list) {
		return netip.Addr{}, false
	}
	return list[(int(turn%uint32(len(list)))+try)%len(list)], true
}

// SourceTurn returns the rotation of the peer's next connection over its upstream's sources.
func (peer *Peer) SourceTurn() uint32 { return peer.srcTurn.Add(1) - 1 }
