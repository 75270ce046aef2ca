package listener

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	proxyproto "github.com/pires/go-proxyproto"
	"github.com/pires/go-proxyproto/tlvparse"
)

// TestProxyProtocolIn: trusted peers must send a PROXY header whose source address becomes
// the client (hash key, PROXY out, log); untrusted peers that send one are refused; untrusted
// peers without one are served as themselves.
func TestProxyProtocolIn(t *testing.T) {
	t.Parallel()
	type seen struct {
		header *proxyproto.Header
		err    error
	}
	got := make(chan seen, 16)
	b := startBackend(t, "b", "127.0.0.1:0", func(_ string, c net.Conn) {
		c.SetDeadline(time.Now().Add(10 * time.Second))
		h, err := proxyproto.Read(bufio.NewReader(c))
		got <- seen{h, err}
		io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
	})
	p := startProxy(t, fmt.Sprintf(`
[[listeners]]
name = "l"
listen = "127.0.0.1:0"
upstream = "app"
proxy_protocol_in = { trusted = ["127.0.0.0/24"], timeout = "300ms" }
[upstreams.app]
servers = ["%s"]
proxy_protocol = "v2"
`, b.addr()))

	request := "GET / HTTP/1.1\r\nHost: x\r\n\r\n"
	tests := []struct {
		name, from, send string
		wantSource       string // the client the backend is told about; "" = refused
		wantLog          string
	}{
		{"trusted v1", "127.0.0.5", "PROXY TCP4 203.0.113.7 198.51.100.1 40000 443\r\n" + request, "203.0.113.7:40000", ""},
		{"trusted v2", "127.0.0.6", string(v2(t, "[2001:db8::9]:5555", "[2001:db8::1]:443")) + request, "[2001:db8::9]:5555", ""},
		{"trusted without header", "127.0.0.7", request, "", "trusted peer 127.0.0.7"},
		{"trusted but silent", "127.0.0.8", "", "", "i/o timeout"},
		{"untrusted with header", "127.0.9.1", "PROXY TCP4 203.0.113.7 198.51.100.1 40000 443\r\n" + request, "", "PROXY header from untrusted peer 127.0.9.1"},
		{"untrusted without header", "127.0.9.2", request, "127.0.9.2:", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := dialFrom(t, tc.from, p.addr("l"))
			defer c.Close()
			c.SetDeadline(time.Now().Add(5 * time.Second))
			io.WriteString(c, tc.send)
			resp, _ := io.ReadAll(c)
			if tc.wantSource == "" {
				if len(resp) != 0 {
					t.Fatalf("refused connection got %q", resp)
				}
				p.log.waitLog(t, tc.wantLog)
				return
			}
			if !strings.HasPrefix(string(resp), "HTTP/1.1 200") {
				t.Fatalf("response %q", resp)
			}
			s := <-got
			if s.err != nil {
				t.Fatal(s.err)
			}
			if src := s.header.SourceAddr.String(); !strings.HasPrefix(src, tc.wantSource) {
				t.Fatalf("backend told the client is %s, want %s", src, tc.wantSource)
			}
		})
	}
	p.log.waitLog(t, `"client":"203.0.113.7:40000","via":"127.0.0.5:`)
}

func v2(t *testing.T, src, dst string) []byte {
	t.Helper()
	s, _ := net.ResolveTCPAddr("tcp", src)
	d, _ := net.ResolveTCPAddr("tcp", dst)
	b, err := proxyproto.HeaderProxyFromAddrs(2, s, d).Format()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestProxyV2CarriesTLS: after TLS termination the v2 header tells the backend the SNI and
// the TLS version.
func TestProxyV2CarriesTLS(t *testing.T) {
	t.Parallel()
	got := make(chan *proxyproto.Header, 1)
	b := startBackend(t, "b", "127.0.0.1:0", func(_ string, c net.Conn) {
		c.SetDeadline(time.Now().Add(10 * time.Second))
		h, err := proxyproto.Read(bufio.NewReader(c))
		if err == nil {
			got <- h
		}
	})
	p := startProxy(t, fmt.Sprintf(`
[[listeners]]
name = "l"
listen = "127.0.0.1:0"
upstream = "app"
preamble = "none"
  [listeners.tls]
  cert = "%%CERT%%"
  key = "%%KEY%%"
[upstreams.app]
servers = ["%s"]
proxy_protocol = "v2"
`, b.addr()))
	c, err := tls.Dial("tcp", p.addr("l"), &tls.Config{ServerName: "localhost", InsecureSkipVerify: true, MaxVersion: tls.VersionTLS12})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write([]byte("x"))
	var h *proxyproto.Header
	select {
	case h = <-got:
	case <-time.After(10 * time.Second):
		t.Fatal("no header")
	}
	tlvs, err := h.TLVs()
	if err != nil {
		t.Fatal(err)
	}
	authority, version := "", ""
	for _, tlv := range tlvs {
		switch tlv.Type {
		case proxyproto.PP2_TYPE_AUTHORITY:
			authority = string(tlv.Value)
		case proxyproto.PP2_TYPE_SSL:
			ssl, err := tlvparse.SSL(tlv)
			if err != nil {
				t.Fatal(err)
			}
			version, _ = ssl.SSLVersion()
			if !ssl.ClientSSL() {
				t.Fatal("SSL TLV without the client-SSL bit")
			}
		}
	}
	if authority != "localhost" || version != "TLSv1.2" {
		t.Fatalf("TLVs: authority %q version %q, want localhost TLSv1.2", authority, version)
	}
}
