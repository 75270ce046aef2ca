package upstream

import (
	"fmt"
	"net"

	proxyproto "github.com/pires/go-proxyproto"

	"github.com/tether-proxy/tether/conf"
)

// ProxyHeader returns the PROXY protocol header (HAProxy's proxy-protocol.txt, v1 text or v2
// binary) that tells the backend who the client is: src is the client, dst the address the
// client connected to. It returns nil for conf.ProxyOff.
func ProxyHeader(v conf.ProxyProtocol, src, dst net.Addr) ([]byte, error) {
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
	b, err := h.Format()
	if err != nil {
		return nil, fmt.Errorf("proxy protocol %s header for %s -> %s: %w", v, src, dst, err)
	}
	return b, nil
}
