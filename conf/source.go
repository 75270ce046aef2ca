package conf

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
)

// sources decodes an upstream's source: an array of IP literals without a port (the kernel
// picks the port per backend at connect time, which gives each (source, backend) pair the
// whole ephemeral range). Each must be unique and an address of this host; together they must
// cover the family of every backend given as an IP literal, and each family they have must be
// one some backend can use.
func (p *parser) sources(at keyPath, v any, servers []Server) []netip.Addr {
	list, ok := v.([]any)
	if !ok {
		p.errorf(at, `expected an array of local addresses such as ["10.0.0.11", "10.0.0.12"], got %s`, describe(v))
		return nil
	}
	if len(list) == 0 {
		p.errorf(at, "empty list (omit source to let the kernel choose the local address)")
		return nil
	}
	var out []netip.Addr
	seen := map[netip.Addr]int{}
	for i, e := range list {
		eat := at.index(i)
		s, ok := p.str(eat, e)
		if !ok {
			continue
		}
		a, err := parseSource(s)
		if err != nil {
			p.errorf(eat, "invalid source address %q: %v", s, err)
			continue
		}
		if j, dup := seen[a]; dup {
			p.errorf(eat, "duplicate source address %s (also source[%d])", a, j)
			continue
		}
		seen[a] = i
		if err := isLocal(a); err != nil {
			p.errorf(eat, "source address %s is not an address of this host (%v)", a, err)
			continue
		}
		out = append(out, a)
	}
	if len(out) == len(list) {
		p.checkSourceFamilies(at, out, servers)
	}
	return out
}

// checkSourceFamilies reports a backend given as an IP literal with no source of its family,
// and, when every backend is a literal, a source family no backend has.
func (p *parser) checkSourceFamilies(at keyPath, srcs []netip.Addr, servers []Server) {
	var have, need [2]bool // by family: [0] IPv4, [1] IPv6
	named := false
	for _, a := range srcs {
		have[family(a)] = true
	}
	for _, s := range servers {
		a, err := netip.ParseAddr(s.Host)
		if err != nil {
			named = true // resolved at run time: dialled from a source of its family if there is one
			continue
		}
		f := family(a.Unmap())
		if !have[f] && !need[f] {
			p.errorf(at, "server %s is %s but no source address is (add one, or drop source)", s.Name, familyName[f])
		}
		need[f] = true
	}
	for i, a := range srcs {
		if f := family(a); !named && !need[f] {
			p.errorf(at.index(i), "source address %s is %s but no server is", a, familyName[f])
		}
	}
}

var familyName = [2]string{"IPv4", "IPv6"}

func family(a netip.Addr) int {
	if a.Is4() {
		return 0
	}
	return 1
}

// parseSource parses one source address: an IP literal of one host, without port or zone.
func parseSource(s string) (netip.Addr, error) {
	a, err := netip.ParseAddr(s)
	_, portErr := netip.ParseAddrPort(s)
	switch {
	case err != nil && portErr == nil:
		return a, errors.New("no port: the kernel picks one per backend (write the address alone)")
	case err != nil:
		return a, errors.New("want an IP address such as 10.0.0.11 or 2001:db8::11")
	case a.Zone() != "":
		return a, errors.New("zones are not supported")
	case a.Is4In6():
		return a, fmt.Errorf("write an IPv4 address as %s", a.Unmap())
	case a.IsUnspecified():
		return a, errors.New("not a source (omit source to let the kernel choose the local address)")
	case a.IsMulticast():
		return a, errors.New("a multicast address is not a source")
	}
	return a, nil
}

// isLocal reports why a is not an address this host can bind, or nil when it is: a UDP socket
// is bound to it, which the kernel allows exactly for its local addresses (and any address
// under net.ipv4.ip_nonlocal_bind). Tests replace it.
var isLocal = func(a netip.Addr) error {
	c, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(a, 0)))
	if err != nil {
		var se *os.SyscallError
		if errors.As(err, &se) {
			return se
		}
		return err
	}
	return c.Close()
}
