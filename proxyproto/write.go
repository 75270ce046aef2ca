package proxyproto

import (
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"net"
	"net/netip"
	"strconv"

	"github.com/tether-proxy/tether/conf"
)

// MaxV1Len is the longest v1 header (section 2.1: 107 bytes for the worst TCP6 line, rounded
// up); a buffer of this capacity also holds a v2 header of IP addresses without TLVs.
const MaxV1Len = 108

// TLSInfo is what a v2 PROXY header tells the backend about the TLS that tether terminated.
type TLSInfo struct {
	ServerName     string // SNI, sent as PP2_TYPE_AUTHORITY
	Version        uint16 // tls.VersionTLS13, ... sent as PP2_SUBTYPE_SSL_VERSION
	ClientVerified bool   // the client presented a certificate that verified
}

// AppendHeader appends to b the PROXY protocol header (v1 text or v2 binary) that tells the
// backend who the client is, and returns the extended buffer: src is the client, dst the address
// the client connected to. A v2 header carries t, when TLS was terminated, as the AUTHORITY and
// SSL TLVs (section 2.2); conf.ProxyOff appends nothing. The bytes are exactly what
// github.com/pires/go-proxyproto formats for the same
// addresses: an IPv4 and an IPv6 address go as TCP6 with ::ffff:a.b.c.d, and a pair that is not
// two IP addresses of one kind as v1 UNKNOWN or a v2 LOCAL header. It does not allocate when b
// has room (MaxV1Len bytes for v1; for v2 MaxV1Len plus the server name, 232 more for
// AF_UNIX names). On error it returns b unchanged.
func AppendHeader(b []byte, v conf.ProxyProtocol, src, dst net.Addr, t *TLSInfo) ([]byte, error) {
	var err error
	switch v {
	case conf.ProxyOff:
		return b, nil
	case conf.ProxyV1:
		b, err = appendV1(b, src, dst)
	case conf.ProxyV2:
		b, err = appendV2(b, src, dst, t)
	default:
		return b, fmt.Errorf("proxy protocol %q: unknown version", v)
	}
	if err != nil {
		return b, fmt.Errorf("proxy protocol %s header for %s -> %s: %w", v, src, dst, err)
	}
	return b, nil
}

// Header constants from proxy-protocol.txt.
const (
	v1MaxLen  = MaxV1Len
	v2Sig     = "\r\n\r\n\x00\r\nQUIT\n"
	v2Local   = 0x20 // version 2, command LOCAL
	v2Proxy   = 0x21 // version 2, command PROXY
	unixLen   = 108  // section 2.2: each AF_UNIX address is 108 bytes
	famTCP4   = 0x11
	famUDP4   = 0x12
	famTCP6   = 0x21
	famUDP6   = 0x22
	famStream = 0x31 // AF_UNIX, SOCK_STREAM
	famDgram  = 0x32 // AF_UNIX, SOCK_DGRAM

	tlvAuthority  = 0x02 // PP2_TYPE_AUTHORITY
	tlvSSL        = 0x20 // PP2_TYPE_SSL
	tlvSSLVersion = 0x21 // PP2_SUBTYPE_SSL_VERSION
	sslClientSSL  = 0x01 // PP2_CLIENT_SSL
	sslClientCert = 0x02 // PP2_CLIENT_CERT_CONN
)

var (
	errPort    = errors.New("port out of range 0-65535")
	errTLVLen  = errors.New("server name longer than a TLV can carry")
	errHdrSize = errors.New("addresses and TLVs longer than 65535 bytes")
)

// ipFamily is what go-proxyproto's HeaderProxyFromAddrs picks for an IP pair: 4 when both are
// IPv4 (or 4-in-6), 6 when both are IP but not both IPv4 (a v4 side then goes as ::ffff:a.b.c.d),
// and 0 (unknown) otherwise.
func ipFamily(src, dst net.IP) int {
	switch {
	case src.To4() != nil && dst.To4() != nil:
		return 4
	case src.To16() != nil && dst.To16() != nil:
		return 6
	}
	return 0
}

// appendV1 writes section 2.1's "PROXY TCP4 src dst sport dport\r\n"; anything but a TCP pair
// is "PROXY UNKNOWN\r\n".
func appendV1(b []byte, src, dst net.Addr) ([]byte, error) {
	s, ok1 := src.(*net.TCPAddr)
	d, ok2 := dst.(*net.TCPAddr)
	if !ok1 || !ok2 {
		return append(b, "PROXY UNKNOWN\r\n"...), nil
	}
	start := len(b)
	var sip, dip netip.Addr
	switch ipFamily(s.IP, d.IP) {
	case 4:
		b = append(b, "PROXY TCP4 "...)
		sip, _ = netip.AddrFromSlice(s.IP.To4())
		dip, _ = netip.AddrFromSlice(d.IP.To4())
	case 6:
		b = append(b, "PROXY TCP6 "...)
		sip, _ = netip.AddrFromSlice(s.IP.To16())
		dip, _ = netip.AddrFromSlice(d.IP.To16())
	default:
		return append(b, "PROXY UNKNOWN\r\n"...), nil
	}
	if !validPort(s.Port) || !validPort(d.Port) {
		return b[:start], errPort
	}
	b = sip.AppendTo(b)
	b = append(b, ' ')
	b = dip.AppendTo(b)
	b = append(b, ' ')
	b = strconv.AppendUint(b, uint64(s.Port), 10)
	b = append(b, ' ')
	b = strconv.AppendUint(b, uint64(d.Port), 10)
	return append(b, "\r\n"...), nil
}

// appendV2 writes section 2.2's binary header: signature, version and command, family,
// length, addresses and ports, then the TLVs for t.
func appendV2(b []byte, src, dst net.Addr, t *TLSInfo) ([]byte, error) {
	start := len(b)
	b = append(b, v2Sig...)
	b = append(b, v2Proxy, 0, 0, 0) // family and length are set below
	var sport, dport int
	var ports bool
	switch s := src.(type) {
	case *net.TCPAddr:
		if d, ok := dst.(*net.TCPAddr); ok {
			b = appendIPs(b, start, famTCP4, famTCP6, s.IP, d.IP)
			sport, dport, ports = s.Port, d.Port, true
		}
	case *net.UDPAddr:
		if d, ok := dst.(*net.UDPAddr); ok {
			b = appendIPs(b, start, famUDP4, famUDP6, s.IP, d.IP)
			sport, dport, ports = s.Port, d.Port, true
		}
	case *net.UnixAddr:
		if d, ok := dst.(*net.UnixAddr); ok && s.Net == d.Net && (s.Net == "unix" || s.Net == "unixgram") {
			b[start+13] = famStream
			if s.Net == "unixgram" {
				b[start+13] = famDgram
			}
			b = appendUnixName(b, s.Name)
			b = appendUnixName(b, d.Name)
		}
	}
	if b[start+13] == 0 { // no family: a LOCAL header that says nothing of the addresses
		b[start+12] = v2Local
		ports = false
	}
	if ports {
		if !validPort(sport) || !validPort(dport) {
			return b[:start], errPort
		}
		b = binary.BigEndian.AppendUint16(b, uint16(sport))
		b = binary.BigEndian.AppendUint16(b, uint16(dport))
	}
	if t != nil {
		if len(t.ServerName) > math.MaxUint16 {
			return b[:start], errTLVLen
		}
		b = appendTLVs(b, t)
	}
	n := len(b) - start - 16
	if n > math.MaxUint16 {
		return b[:start], errHdrSize
	}
	binary.BigEndian.PutUint16(b[start+14:], uint16(n))
	return b, nil
}

// appendIPs sets the family byte of the header at start and appends the two addresses, 4 or
// 16 bytes each; an unusable pair leaves the family unset and appends nothing.
func appendIPs(b []byte, start int, fam4, fam6 byte, src, dst net.IP) []byte {
	switch ipFamily(src, dst) {
	case 4:
		b[start+13] = fam4
		return append(append(b, src.To4()...), dst.To4()...)
	case 6:
		b[start+13] = fam6
		return append(append(b, src.To16()...), dst.To16()...)
	}
	return b
}

// appendUnixName appends name as a 108-byte sun_path: cut to 108 bytes, or padded with NULs.
func appendUnixName(b []byte, name string) []byte {
	if len(name) >= unixLen {
		return append(b, name[:unixLen]...)
	}
	b = append(b, name...)
	for range unixLen - len(name) {
		b = append(b, 0)
	}
	return b
}

// appendTLVs appends PP2_TYPE_AUTHORITY (when there is an SNI) and PP2_TYPE_SSL with its
// PP2_SUBTYPE_SSL_VERSION, as HAProxy's send-proxy-v2-ssl does. The caller has checked that
// the server name fits a TLV.
func appendTLVs(b []byte, t *TLSInfo) []byte {
	if t.ServerName != "" {
		b = append(b, tlvAuthority)
		b = binary.BigEndian.AppendUint16(b, uint16(len(t.ServerName)))
		b = append(b, t.ServerName...)
	}
	client, verify := byte(sslClientSSL), uint32(1) // verify is 0 when the client cert verified
	if t.ClientVerified {
		client, verify = sslClientSSL|sslClientCert, 0
	}
	name := versionName(t.Version)
	b = append(b, tlvSSL)
	b = binary.BigEndian.AppendUint16(b, uint16(5+3+len(name)))
	b = append(b, client)
	b = binary.BigEndian.AppendUint32(b, verify)
	b = append(b, tlvSSLVersion)
	b = binary.BigEndian.AppendUint16(b, uint16(len(name)))
	return append(b, name...)
}

func validPort(p int) bool { return p >= 0 && p <= math.MaxUint16 }

// versionName spells a TLS version as OpenSSL does ("TLSv1.3"), which is what HAProxy sends.
func versionName(v uint16) string {
	switch v {
	case tls.VersionTLS13:
		return "TLSv1.3"
	case tls.VersionTLS12:
		return "TLSv1.2"
	}
	return tls.VersionName(v)
}
