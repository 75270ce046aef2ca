package upstream

import (
	"bufio"
	"bytes"
	"net"
	"testing"

	proxyproto "github.com/pires/go-proxyproto"

	"github.com/tether-proxy/tether/conf"
)

func TestProxyHeader(t *testing.T) {
	tcp := func(s string) *net.TCPAddr {
		a, err := net.ResolveTCPAddr("tcp", s)
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	tests := []struct {
		name     string
		version  conf.ProxyProtocol
		src, dst string
		wantV1   string // exact text for v1 (HAProxy proxy-protocol.txt section 2.1)
	}{
		{"off", conf.ProxyOff, "127.0.0.1:1", "127.0.0.1:2", ""},
		{"v1 IPv4", conf.ProxyV1, "127.3.4.5:50000", "127.0.0.1:8443", "PROXY TCP4 127.3.4.5 127.0.0.1 50000 8443\r\n"},
		{"v1 IPv6", conf.ProxyV1, "[2001:db8::7]:50000", "[::1]:443", "PROXY TCP6 2001:db8::7 ::1 50000 443\r\n"},
		{"v2 IPv4", conf.ProxyV2, "127.3.4.5:50000", "127.0.0.1:8443", ""},
		{"v2 IPv6", conf.ProxyV2, "[2001:db8::7]:50000", "[::1]:443", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, err := ProxyHeader(tc.version, tcp(tc.src), tcp(tc.dst), nil)
			if err != nil {
				t.Fatal(err)
			}
			switch tc.version {
			case conf.ProxyOff:
				if b != nil {
					t.Fatalf("header %q for proxy protocol off", b)
				}
				return
			case conf.ProxyV1:
				if string(b) != tc.wantV1 {
					t.Fatalf("v1 header %q, want %q", b, tc.wantV1)
				}
			case conf.ProxyV2:
				// proxy-protocol.txt section 2.2: the 12-byte signature, version 2 + PROXY.
				if !bytes.HasPrefix(b, []byte("\r\n\r\n\x00\r\nQUIT\n\x21")) {
					t.Fatalf("v2 header starts %q", b[:13])
				}
			}
			h, err := proxyproto.Read(bufio.NewReader(bytes.NewReader(b)))
			if err != nil {
				t.Fatalf("a PROXY parser rejects the header: %v", err)
			}
			src, dst, ok := h.TCPAddrs()
			if !ok || src.String() != tcp(tc.src).String() || dst.String() != tcp(tc.dst).String() {
				t.Fatalf("parsed %v -> %v", src, dst)
			}
		})
	}
}
