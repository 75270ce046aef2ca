package hashing

import "net/netip"

// AppendRemoteAddr appends nginx's $remote_addr text for ip to dst and returns the extended
// buffer: dotted decimal for IPv4, and for IPv6 exactly what ngx_inet6_ntop
// (src/core/ngx_inet.c) prints, which is not always Go's netip format:
//
//   - the longest run of two or more zero groups becomes "::" (the first one on a tie),
//   - when that run starts the address, the last 4 bytes are printed dotted if the run is
//     6 groups ("::1.2.3.4"), 5 groups followed by ffff ("::ffff:1.2.3.4"), or 7 groups with
//     byte 14 != 0 and byte 15 != 1 (so "::0.0.1.0" and "::0.0.255.255", but "::1" and "::2"),
//   - hex groups are lowercase without leading zeros.
//
// onIPv6Socket reports that the connection arrived on an AF_INET6 (dual-stack) socket; then an
// IPv4 client is spelled "::ffff:a.b.c.d", as nginx does on `listen [::]:P ipv6only=off`.
// Without it an IPv4-mapped ip (Go's form of an IPv4 client on some sockets) is printed as
// plain IPv4, since an AF_INET socket has no other spelling. Zones are not printed. The zero
// Addr appends nothing.
func AppendRemoteAddr(dst []byte, ip netip.Addr, onIPv6Socket bool) []byte {
	switch {
	case !ip.IsValid():
		return dst
	case ip.Is4In6() && !onIPv6Socket:
		ip = ip.Unmap()
	case ip.Is4() && onIPv6Socket:
		ip = netip.AddrFrom16(ip.As16())
	}
	if ip.Is4() {
		b := ip.As4()
		return appendDotted(dst, b[:])
	}
	b := ip.As16()
	return appendInet6(dst, &b)
}

func appendDotted(dst []byte, b []byte) []byte {
	for i, v := range b {
		if i > 0 {
			dst = append(dst, '.')
		}
		switch {
		case v >= 100:
			dst = append(dst, '0'+v/100, '0'+v/10%10, '0'+v%10)
		case v >= 10:
			dst = append(dst, '0'+v/10, '0'+v%10)
		default:
			dst = append(dst, '0'+v)
		}
	}
	return dst
}

// appendHex appends v in lowercase hex without leading zeros (nginx's "%xd").
func appendHex(dst []byte, v uint16) []byte {
	const digits = "0123456789abcdef"
	started := false
	for shift := 12; shift > 0; shift -= 4 {
		d := v >> shift & 0xf
		if d != 0 || started {
			dst = append(dst, digits[d])
			started = true
		}
	}
	return append(dst, digits[v&0xf])
}

// appendInet6 follows ngx_inet6_ntop.
func appendInet6(dst []byte, p *[16]byte) []byte {
	// Find the longest run of zero groups; max starts at 1 so a run needs two groups, and
	// only a strictly longer run replaces an earlier one.
	zero, maxRun := -1, 1
	last, n := -1, 0
	for i := 0; i < 16; i += 2 {
		if p[i] != 0 || p[i+1] != 0 {
			if maxRun < n {
				zero, maxRun = last, n
			}
			n = 0
			continue
		}
		if n == 0 {
			last = i
		}
		n++
	}
	if maxRun < n {
		zero, maxRun = last, n
	}

	end := 16 // bytes printed as hex groups; 12 when the tail is dotted
	if zero == 0 {
		if (maxRun == 5 && p[10] == 0xff && p[11] == 0xff) ||
			maxRun == 6 ||
			(maxRun == 7 && p[14] != 0 && p[15] != 1) {
			end = 12
		}
		dst = append(dst, ':')
	}
	for i := 0; i < end; i += 2 {
		if i == zero {
			dst = append(dst, ':')
			i += (maxRun - 1) * 2
			continue
		}
		dst = appendHex(dst, uint16(p[i])<<8|uint16(p[i+1]))
		if i < 14 {
			dst = append(dst, ':')
		}
	}
	if end == 12 {
		dst = appendDotted(dst, p[12:])
	}
	return dst
}
