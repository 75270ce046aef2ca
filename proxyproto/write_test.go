package proxyproto

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"fmt"
	"net"
	"strings"
	"testing"

	pires "github.com/pires/go-proxyproto"
	"github.com/pires/go-proxyproto/tlvparse"

	"github.com/tether-proxy/tether/conf"
)

// refHeader is the header go-proxyproto formats: what tether sent before it formatted
// headers by hand, kept as the reference the hand-written encoder must match.
func refHeader(v conf.ProxyProtocol, src, dst net.Addr, t *TLSInfo) ([]byte, error) {
	var version byte
	switch v {
	case conf.ProxyOff:
		return nil, nil
	case conf.ProxyV1:
		version = 1
	case conf.ProxyV2:
		version = 2
	default:
		return nil, pires.ErrUnknownProxyProtocolVersion
	}
	h := pires.HeaderProxyFromAddrs(version, src, dst)
	if version == 2 && t != nil {
		var tlvs []pires.TLV
		if t.ServerName != "" {
			tlvs = append(tlvs, pires.TLV{Type: pires.PP2_TYPE_AUTHORITY, Value: []byte(t.ServerName)})
		}
		ssl := tlvparse.PP2SSL{Client: tlvparse.PP2_BITFIELD_CLIENT_SSL, Verify: 1}
		if t.ClientVerified {
			ssl.Client |= tlvparse.PP2_BITFIELD_CLIENT_CERT_CONN
			ssl.Verify = 0
		}
		ssl.TLV = []pires.TLV{{Type: pires.PP2_SUBTYPE_SSL_VERSION, Value: []byte(versionName(t.Version))}}
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

// checkAgainstRef asserts that AppendHeader, appending after a prefix, produces exactly the
// reference bytes (or both fail), and returns the header.
func checkAgainstRef(t testing.TB, v conf.ProxyProtocol, src, dst net.Addr, info *TLSInfo) []byte {
	t.Helper()
	want, wantErr := refHeader(v, src, dst, info)
	prefix := []byte("keep")
	got, err := AppendHeader(prefix, v, src, dst, info)
	if string(got[:len(prefix)]) != "keep" {
		t.Fatalf("AppendHeader overwrote the prefix: %q", got)
	}
	got = got[len(prefix):]
	if (err != nil) != (wantErr != nil) {
		t.Fatalf("AppendHeader(%s, %v, %v, %s) error %v, go-proxyproto %v", v, src, dst, short(info), err, wantErr)
	}
	if err != nil {
		if len(got) != 0 {
			t.Fatalf("failed AppendHeader appended %q", got)
		}
		return nil
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("AppendHeader(%s, %v, %v, %s)\n got %s\nwant %s", v, src, dst, short(info), short(got), short(want))
	}
	if v == conf.ProxyOff && len(got) != 0 {
		t.Fatalf("off: appended %q", got)
	}
	return want
}

// short quotes a header or a TLSInfo for a failure message, cutting the 64 KiB ones.
func short(x any) string {
	s := fmt.Sprintf("%q", x)
	if t, ok := x.(*TLSInfo); ok && t != nil {
		s = fmt.Sprintf("%+v", *t)
	}
	if len(s) > 300 {
		return s[:300] + fmt.Sprintf("... (%d bytes)", len(s))
	}
	return s
}

// tcp, udp and unixAddr build addresses for the tables; ip4in6 is a 16-byte ::ffff:a.b.c.d.
func tcp(ip string, port int) *net.TCPAddr  { return &net.TCPAddr{IP: net.ParseIP(ip), Port: port} }
func udp(ip string, port int) *net.UDPAddr  { return &net.UDPAddr{IP: net.ParseIP(ip), Port: port} }
func unixAddr(n, name string) *net.UnixAddr { return &net.UnixAddr{Net: n, Name: name} }
func ip4in6(ip string, port int) *net.TCPAddr {
	return &net.TCPAddr{IP: net.ParseIP(ip).To16(), Port: port}
}

var proxyAddrs = []struct {
	name     string
	src, dst net.Addr
	wantV1   string // exact v1 text (proxy-protocol.txt section 2.1); "" when not checked
}{
	{"v4", tcp("127.3.4.5", 50000), tcp("127.0.0.1", 8443), "PROXY TCP4 127.3.4.5 127.0.0.1 50000 8443\r\n"},
	{"v4 spec example", tcp("1.2.3.4", 1111), tcp("5.6.7.8", 2222), "PROXY TCP4 1.2.3.4 5.6.7.8 1111 2222\r\n"},
	{"v4 extremes", tcp("255.255.255.255", 65535), tcp("0.0.0.0", 0), "PROXY TCP4 255.255.255.255 0.0.0.0 65535 0\r\n"},
	{"v4 4-byte IP", &net.TCPAddr{IP: net.IPv4(10, 0, 0, 1).To4(), Port: 1}, tcp("10.0.0.2", 2), "PROXY TCP4 10.0.0.1 10.0.0.2 1 2\r\n"},
	{"v6", tcp("2001:db8::7", 50000), tcp("::1", 443), "PROXY TCP6 2001:db8::7 ::1 50000 443\r\n"},
	{"v6 longest", tcp("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 65535), tcp("ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe", 65535),
		"PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe 65535 65535\r\n"},
	{"v6 zone", &net.TCPAddr{IP: net.ParseIP("fe80::1"), Port: 5, Zone: "eth0"}, tcp("fe80::2", 6), "PROXY TCP6 fe80::1 fe80::2 5 6\r\n"},
	{"4-in-6 both", ip4in6("192.0.2.1", 1), ip4in6("192.0.2.2", 2), "PROXY TCP4 192.0.2.1 192.0.2.2 1 2\r\n"},
	{"4-in-6 and v4", ip4in6("192.0.2.1", 1), tcp("192.0.2.2", 2), "PROXY TCP4 192.0.2.1 192.0.2.2 1 2\r\n"},
	{"mixed v4 v6", tcp("192.0.2.1", 1), tcp("2001:db8::1", 2), "PROXY TCP6 ::ffff:192.0.2.1 2001:db8::1 1 2\r\n"},
	{"mixed v6 v4", tcp("2001:db8::1", 1), tcp("192.0.2.1", 2), "PROXY TCP6 2001:db8::1 ::ffff:192.0.2.1 1 2\r\n"},
	{"no IP", &net.TCPAddr{Port: 1}, tcp("192.0.2.1", 2), "PROXY UNKNOWN\r\n"},
	{"bad IP length", &net.TCPAddr{IP: net.IP{1, 2, 3}, Port: 1}, tcp("192.0.2.1", 2), "PROXY UNKNOWN\r\n"},
	{"port too big", tcp("192.0.2.1", 65536), tcp("192.0.2.2", 2), ""},
	{"port negative", tcp("2001:db8::1", 1), tcp("2001:db8::2", -1), ""},
	{"no IP bad port", &net.TCPAddr{Port: -1}, &net.TCPAddr{Port: 70000}, "PROXY UNKNOWN\r\n"},
	{"udp v4", udp("192.0.2.1", 53), udp("192.0.2.2", 53), "PROXY UNKNOWN\r\n"},
	{"udp v6", udp("2001:db8::1", 53), udp("192.0.2.2", 53), "PROXY UNKNOWN\r\n"},
	{"udp bad port", udp("192.0.2.1", 1<<20), udp("192.0.2.2", 53), "PROXY UNKNOWN\r\n"},
	{"unix stream", unixAddr("unix", "/run/a.sock"), unixAddr("unix", "/run/b.sock"), "PROXY UNKNOWN\r\n"},
	{"unix dgram", unixAddr("unixgram", "@abstract"), unixAddr("unixgram", ""), "PROXY UNKNOWN\r\n"},
	{"unix long name", unixAddr("unix", strings.Repeat("x", 200)), unixAddr("unix", strings.Repeat("y", 108)), "PROXY UNKNOWN\r\n"},
	{"unix mismatched", unixAddr("unix", "/a"), unixAddr("unixgram", "/b"), "PROXY UNKNOWN\r\n"},
	{"unixpacket", unixAddr("unixpacket", "/a"), unixAddr("unixpacket", "/b"), "PROXY UNKNOWN\r\n"},
	{"tcp and udp", tcp("192.0.2.1", 1), udp("192.0.2.2", 2), "PROXY UNKNOWN\r\n"},
	{"nil dst", tcp("192.0.2.1", 1), nil, "PROXY UNKNOWN\r\n"},
	{"nil both", nil, nil, "PROXY UNKNOWN\r\n"},
	{"ip addr", &net.IPAddr{IP: net.ParseIP("192.0.2.1")}, &net.IPAddr{IP: net.ParseIP("192.0.2.2")}, "PROXY UNKNOWN\r\n"},
}

var proxyTLS = []struct {
	name string
	t    *TLSInfo
}{
	{"no TLS", nil},
	{"TLS 1.3 SNI", &TLSInfo{ServerName: "chat.example.com", Version: tls.VersionTLS13}},
	{"TLS 1.2 no SNI", &TLSInfo{Version: tls.VersionTLS12}},
	{"verified client", &TLSInfo{ServerName: "a", Version: tls.VersionTLS13, ClientVerified: true}},
	{"TLS 1.0", &TLSInfo{ServerName: "old.example", Version: tls.VersionTLS10}},
	{"unknown version", &TLSInfo{ServerName: "x.example", Version: 0x0305}},
	{"zero TLSInfo", &TLSInfo{}},
	{"SNI fills header v4", &TLSInfo{ServerName: strings.Repeat("s", 65535-12-3-18), Version: tls.VersionTLS13}},
	{"SNI overflows header v4", &TLSInfo{ServerName: strings.Repeat("s", 65535-12-3-18+1), Version: tls.VersionTLS13}},
	{"SNI fills TLV", &TLSInfo{ServerName: strings.Repeat("s", 65535), Version: tls.VersionTLS13}},
	{"SNI overflows TLV", &TLSInfo{ServerName: strings.Repeat("s", 65536), Version: tls.VersionTLS13}},
}

// TestAppendHeader: for every address pair, version and TLS info, the hand-written
// encoder gives go-proxyproto's bytes, and go-proxyproto's parser reads them back.
func TestAppendHeader(t *testing.T) {
	for _, a := range proxyAddrs {
		for _, v := range []conf.ProxyProtocol{conf.ProxyOff, conf.ProxyV1, conf.ProxyV2} {
			for _, ti := range proxyTLS {
				t.Run(a.name+"/"+string(v)+"/"+ti.name, func(t *testing.T) {
					b := checkAgainstRef(t, v, a.src, a.dst, ti.t)
					if v == conf.ProxyV1 && a.wantV1 != "" && string(b) != a.wantV1 {
						t.Fatalf("v1 header %q, want %q", b, a.wantV1)
					}
					if b == nil || v == conf.ProxyV2 && len(b)-16 > int(pires.MaxV2HeaderSize) {
						return // nothing to read back, or longer than go-proxyproto reads
					}
					if v == conf.ProxyV2 && (!bytes.HasPrefix(b, []byte("\r\n\r\n\x00\r\nQUIT\n")) || b[12]>>4 != 2) {
						t.Fatalf("v2 header starts %q", b[:13])
					}
					h, err := pires.Read(bufio.NewReaderSize(bytes.NewReader(b), len(b)))
					if err != nil {
						t.Fatalf("go-proxyproto cannot read %s: %v", short(b), err)
					}
					again, err := h.Format()
					if err != nil || !bytes.Equal(again, b) {
						t.Fatalf("read back and formatted again: %s, %v", short(again), err)
					}
					if src, dst, ok := h.TCPAddrs(); ok {
						ws, wd := a.src.(*net.TCPAddr), a.dst.(*net.TCPAddr)
						if !src.IP.Equal(ws.IP) || src.Port != ws.Port || !dst.IP.Equal(wd.IP) || dst.Port != wd.Port {
							t.Fatalf("read back %v -> %v, want %v -> %v", src, dst, ws, wd)
						}
					}
					if ti.t != nil && v == conf.ProxyV2 {
						checkTLVs(t, h, ti.t)
					}
				})
			}
		}
	}
}

// checkTLVs reads the AUTHORITY and SSL TLVs back out of a parsed v2 header.
func checkTLVs(t *testing.T, h *pires.Header, want *TLSInfo) {
	t.Helper()
	tlvs, err := h.TLVs()
	if err != nil {
		t.Fatal(err)
	}
	var sni string
	var ssl *tlvparse.PP2SSL
	for _, tlv := range tlvs {
		switch tlv.Type {
		case pires.PP2_TYPE_AUTHORITY:
			sni = string(tlv.Value)
		case pires.PP2_TYPE_SSL:
			s, err := tlvparse.SSL(tlv)
			if err != nil {
				t.Fatal(err)
			}
			ssl = &s
		}
	}
	if sni != want.ServerName || ssl == nil {
		t.Fatalf("TLVs %v: SNI %q, SSL %v", tlvs, sni, ssl)
	}
	if v, _ := ssl.SSLVersion(); v != versionName(want.Version) || ssl.Verified() != want.ClientVerified || !ssl.ClientSSL() {
		t.Fatalf("SSL TLV %+v for %+v", ssl, want)
	}
}

func TestAppendHeaderUnknownVersion(t *testing.T) {
	b, err := AppendHeader([]byte("x"), "v3", tcp("192.0.2.1", 1), tcp("192.0.2.2", 2), nil)
	if err == nil || string(b) != "x" {
		t.Fatalf("v3: %q, %v", b, err)
	}
}

// TestAppendHeaderAllocs: with room in the buffer, the per-connection header costs no
// allocation.
func TestAppendHeaderAllocs(t *testing.T) {
	info := &TLSInfo{ServerName: "chat.example.com", Version: tls.VersionTLS13, ClientVerified: true}
	buf := make([]byte, 0, 512)
	for _, a := range proxyAddrs {
		for _, v := range []conf.ProxyProtocol{conf.ProxyV1, conf.ProxyV2} {
			for _, ti := range []*TLSInfo{nil, info} {
				if _, err := refHeader(v, a.src, a.dst, ti); err != nil {
					continue // errors are formatted, and allocate
				}
				n := testing.AllocsPerRun(100, func() {
					if _, err := AppendHeader(buf[:0], v, a.src, a.dst, ti); err != nil {
						t.Fatal(err)
					}
				})
				if n != 0 {
					t.Errorf("%s %s TLS %v: %v allocs", a.name, v, ti != nil, n)
				}
			}
		}
	}
}
