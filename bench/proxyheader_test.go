package bench

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"net"
	"testing"

	proxyproto "github.com/pires/go-proxyproto"

	"github.com/tether-proxy/tether/conf"
	"github.com/tether-proxy/tether/upstream"
)

var (
	proxySrc = &net.TCPAddr{IP: net.IPv4(203, 0, 113, 9), Port: 51234}
	proxyDst = &net.TCPAddr{IP: net.IPv4(192, 0, 2, 1), Port: 443}
	proxyTLS = &upstream.TLSInfo{ServerName: "chat.example.com", Version: tls.VersionTLS13}
)

var proxyHeaders = []struct {
	name string
	v    conf.ProxyProtocol
	tls  *upstream.TLSInfo
}{
	{"v1", conf.ProxyV1, nil},
	{"v2", conf.ProxyV2, nil},
	{"v2-tls", conf.ProxyV2, proxyTLS},
}

// BenchmarkProxyHeader encodes the PROXY header tether sends a backend per connection.
func BenchmarkProxyHeader(b *testing.B) {
	for _, h := range proxyHeaders {
		b.Run(h.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if hdr, err := upstream.ProxyHeader(h.v, proxySrc, proxyDst, h.tls); err != nil || len(hdr) == 0 {
					b.Fatal(hdr, err)
				}
			}
		})
	}
}

// TestProxyHeaderInputs: what the benchmark encodes is a valid header for the right client,
// read back by an independent decoder.
func TestProxyHeaderInputs(t *testing.T) {
	for _, h := range proxyHeaders {
		t.Run(h.name, func(t *testing.T) {
			hdr, err := upstream.ProxyHeader(h.v, proxySrc, proxyDst, h.tls)
			if err != nil {
				t.Fatal(err)
			}
			got, err := proxyproto.Read(bufio.NewReader(bytes.NewReader(hdr)))
			if err != nil {
				t.Fatalf("decode %q: %v", hdr, err)
			}
			if got.SourceAddr.String() != proxySrc.String() || got.DestinationAddr.String() != proxyDst.String() {
				t.Errorf("decoded %v -> %v, want %v -> %v", got.SourceAddr, got.DestinationAddr, proxySrc, proxyDst)
			}
		})
	}
}
