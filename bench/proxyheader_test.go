package bench

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"net"
	"testing"

	pires "github.com/pires/go-proxyproto"
	"github.com/pires/go-proxyproto/tlvparse"

	"github.com/tether-proxy/tether/conf"
	"github.com/tether-proxy/tether/proxyproto"
)

var (
	proxySrc  = &net.TCPAddr{IP: net.IPv4(203, 0, 113, 9), Port: 51234}
	proxyDst  = &net.TCPAddr{IP: net.IPv4(192, 0, 2, 1), Port: 443}
	proxySrc6 = &net.TCPAddr{IP: net.ParseIP("2001:db8:85a3::8a2e:370:7334"), Port: 51234}
	proxyDst6 = &net.TCPAddr{IP: net.ParseIP("2001:db8::1"), Port: 443}
	proxyTLS  = &proxyproto.TLSInfo{ServerName: "chat.example.com", Version: tls.VersionTLS13}
)

var proxyHeaders = []struct {
	name     string
	v        conf.ProxyProtocol
	src, dst *net.TCPAddr
	tls      *proxyproto.TLSInfo
}{
	{"v1", conf.ProxyV1, proxySrc, proxyDst, nil},
	{"v1-tcp6", conf.ProxyV1, proxySrc6, proxyDst6, nil},
	{"v2", conf.ProxyV2, proxySrc, proxyDst, nil},
	{"v2-tls", conf.ProxyV2, proxySrc, proxyDst, proxyTLS},
}

// BenchmarkProxyHeaderAppend encodes the PROXY header tether sends a backend per connection
// into a reused buffer, as the hot path does: proxyproto.AppendHeader, which should not allocate.
func BenchmarkProxyHeaderAppend(b *testing.B) {
	for _, h := range proxyHeaders {
		b.Run(h.name, func(b *testing.B) {
			b.ReportAllocs()
			buf := make([]byte, 0, 256)
			for b.Loop() {
				hdr, err := proxyproto.AppendHeader(buf[:0], h.v, h.src, h.dst, h.tls)
				if err != nil || len(hdr) == 0 {
					b.Fatal(hdr, err)
				}
			}
		})
	}
}

// BenchmarkProxyHeaderGoProxyproto encodes the same headers with github.com/pires/go-proxyproto,
// as tether did before it formatted headers by hand: the baseline in the same run.
func BenchmarkProxyHeaderGoProxyproto(b *testing.B) {
	for _, h := range proxyHeaders {
		b.Run(h.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if hdr, err := goProxyprotoHeader(h.v, h.src, h.dst, h.tls); err != nil || len(hdr) == 0 {
					b.Fatal(hdr, err)
				}
			}
		})
	}
}

// goProxyprotoHeader is the go-proxyproto encoding of a header with the AUTHORITY and SSL TLVs.
func goProxyprotoHeader(v conf.ProxyProtocol, src, dst net.Addr, t *proxyproto.TLSInfo) ([]byte, error) {
	version := byte(1)
	if v == conf.ProxyV2 {
		version = 2
	}
	h := pires.HeaderProxyFromAddrs(version, src, dst)
	if version == 2 && t != nil {
		var tlvs []pires.TLV
		if t.ServerName != "" {
			tlvs = append(tlvs, pires.TLV{Type: pires.PP2_TYPE_AUTHORITY, Value: []byte(t.ServerName)})
		}
		ssl := tlvparse.PP2SSL{Client: tlvparse.PP2_BITFIELD_CLIENT_SSL, Verify: 1}
		ssl.TLV = []pires.TLV{{Type: pires.PP2_SUBTYPE_SSL_VERSION, Value: []byte("TLSv1.3")}}
		tlv, err := ssl.Marshal()
		if err != nil {
			return nil, err
		}
		if err := h.SetTLVs(append(tlvs, tlv)); err != nil {
			return nil, err
		}
	}
	return h.Format()
}

// TestProxyHeaderInputs: what the benchmarks encode is a valid header for the right client,
// read back by an independent decoder, and the same bytes as go-proxyproto formats.
func TestProxyHeaderInputs(t *testing.T) {
	for _, h := range proxyHeaders {
		t.Run(h.name, func(t *testing.T) {
			hdr, err := proxyproto.AppendHeader(nil, h.v, h.src, h.dst, h.tls)
			if err != nil {
				t.Fatal(err)
			}
			if ref, err := goProxyprotoHeader(h.v, h.src, h.dst, h.tls); err != nil || !bytes.Equal(ref, hdr) {
				t.Fatalf("go-proxyproto %q, %v; AppendHeader %q", ref, err, hdr)
			}
			got, err := pires.Read(bufio.NewReader(bytes.NewReader(hdr)))
			if err != nil {
				t.Fatalf("decode %q: %v", hdr, err)
			}
			if got.SourceAddr.String() != h.src.String() || got.DestinationAddr.String() != h.dst.String() {
				t.Errorf("decoded %v -> %v, want %v -> %v", got.SourceAddr, got.DestinationAddr, h.src, h.dst)
			}
		})
	}
}
