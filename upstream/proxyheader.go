package upstream

import (
	"crypto/tls"
	"fmt"
	"net"

	proxyproto "github.com/pires/go-proxyproto"
	"github.com/pires/go-proxyproto/tlvparse"

	"github.com/tether-proxy/tether/conf"
)

// TLSInfo is what a v2 PROXY header tells the backend about the TLS that tether terminated.
type TLSInfo struct {
	ServerName     string // SNI, sent as PP2_TYPE_AUTHORITY
	Version        uint16 // tls.VersionTLS13, ... sent as PP2_SUBTYPE_SSL_VERSION
	ClientVerified bool   // the client presented a certificate that verified
}

// ProxyHeader returns the PROXY protocol header (HAProxy's proxy-protocol.txt, v1 text or v2
// binary) that tells the backend who the client is: src is the client, dst the address the
// client connected to. A v2 header carries t, when TLS was terminated, as the AUTHORITY and
// SSL TLVs (section 2.2). It returns nil for conf.ProxyOff.
func ProxyHeader(v conf.ProxyProtocol, src, dst net.Addr, t *TLSInfo) ([]byte, error) {
	var version byte
	switch v {
	case conf.ProxyOff:
		return nil, nil
	case conf.ProxyV1:
		version = 1
	case conf.ProxyV2:
		version = 2
	default:
		return nil, fmt.Errorf("proxy protocol %q: unknown version", v)
	}
	h := proxyproto.HeaderProxyFromAddrs(version, src, dst)
	if version == 2 && t != nil {
		if err := h.SetTLVs(tlsTLVs(t)); err != nil {
			return nil, fmt.Errorf("proxy protocol TLVs: %w", err)
		}
	}
	b, err := h.Format()
	if err != nil {
		return nil, fmt.Errorf("proxy protocol %s header for %s -> %s: %w", v, src, dst, err)
	}
	return b, nil
}

// tlsTLVs builds PP2_TYPE_AUTHORITY and PP2_TYPE_SSL (with PP2_SUBTYPE_SSL_VERSION) as
// HAProxy's send-proxy-v2-ssl does.
func tlsTLVs(t *TLSInfo) []proxyproto.TLV {
	var tlvs []proxyproto.TLV
	if t.ServerName != "" {
		tlvs = append(tlvs, proxyproto.TLV{Type: proxyproto.PP2_TYPE_AUTHORITY, Value: []byte(t.ServerName)})
	}
	ssl := tlvparse.PP2SSL{Client: tlvparse.PP2_BITFIELD_CLIENT_SSL, Verify: 1}
	if t.ClientVerified {
		ssl.Client |= tlvparse.PP2_BITFIELD_CLIENT_CERT_CONN
		ssl.Verify = 0
	}
	ssl.TLV = []proxyproto.TLV{{Type: proxyproto.PP2_SUBTYPE_SSL_VERSION, Value: []byte(versionName(t.Version))}}
	if tlv, err := ssl.Marshal(); err == nil {
		tlvs = append(tlvs, tlv)
	}
	return tlvs
}

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
