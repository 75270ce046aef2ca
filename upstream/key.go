package upstream

import (
	"net/netip"

	"github.com/tether-proxy/tether/balance"
	"github.com/tether-proxy/tether/hashing"
)

// AppendKey appends the hash key of client ip to dst, as this pool's balancing method reads
// it (balance.Method.Key): nginx's $remote_addr text for hash and hash consistent (an IPv4
// client spelled ::ffff:a.b.c.d when onIPv6Socket), the address bytes for ip_hash and HAProxy
// source (4 bytes for an IPv4 socket, 16 for an IPv6 one, as nginx and HAProxy take them from
// the socket address), nothing for a method that reads no key.
func (p *Pool) AppendKey(dst []byte, ip netip.Addr, onIPv6Socket bool) []byte {
	switch p.method.Key {
	case balance.KeyNone:
		return dst
	case balance.KeyText:
		return hashing.AppendRemoteAddr(dst, ip, onIPv6Socket)
	}
	if (ip.Is4() || ip.Is4In6()) && !onIPv6Socket {
		a := ip.Unmap().As4()
		return append(dst, a[:]...)
	}
	a := ip.As16()
	return append(dst, a[:]...)
}
