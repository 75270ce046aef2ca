package proxyproto

import (
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	pires "github.com/pires/go-proxyproto"
)

func v2Header(t testing.TB, src, dst string) []byte {
	t.Helper()
	s, _ := net.ResolveTCPAddr("tcp", src)
	d, _ := net.ResolveTCPAddr("tcp", dst)
	b, err := pires.HeaderProxyFromAddrs(2, s, d).Format()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestFrame(t *testing.T) {
	v1 := "PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\r\n"
	v2 := string(v2Header(t, "192.0.2.1:56324", "198.51.100.2:443"))
	tests := []struct {
		name    string
		in      string
		want    int
		wantErr string // substring; "none" means ErrNoHeader
	}{
		// complete headers, with trailing bytes that must not count
		{"v1", v1 + "GET /", len(v1), ""},
		{"v1 unknown", "PROXY UNKNOWN\r\n\x16\x03", len("PROXY UNKNOWN\r\n"), ""},
		{"v2", v2 + "\x16\x03\x01", len(v2), ""},
		// prefixes: need more bytes
		{"empty", "", 0, ""},
		{"v1 prefix", "PROX", 0, ""},
		{"v1 no CRLF yet", "PROXY TCP4 192.0.2.1", 0, ""},
		{"v2 signature only", v2[:12], 0, ""},
		{"v2 body incomplete", v2[:20], 0, ""},
		// not a header at all
		{"TLS ClientHello", "\x16\x03\x01\x02\x00", 0, "none"},
		{"HTTP GET", "GET / HTTP/1.1\r\n", 0, "none"},
		{"HTTP POST shares the P", "POST / HTTP/1.1\r\n", 0, "none"},
		{"HTTP/2 preface", "PRI * HTTP/2.0\r\n", 0, "none"},
		{"CR but not v2", "\r\n\r\nX", 0, "none"},
		// broken headers
		{"v1 too long", "PROXY " + strings.Repeat("1", 120), 0, "no CRLF within 107"},
		{"v1 bare LF", "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n", 0, "CRLF"},
		{"v2 wrong version", v2[:12] + "\x31" + v2[13:], 0, "version 3"},
		{"v2 too long", v2[:14] + "\xff\xff", 0, "exceeds"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			n, err := Frame([]byte(tc.in))
			switch {
			case tc.wantErr == "none":
				if !errors.Is(err, ErrNoHeader) {
					t.Fatalf("Frame = %d, %v; want ErrNoHeader", n, err)
				}
			case tc.wantErr != "":
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("Frame = %d, %v; want error containing %q", n, err, tc.wantErr)
				}
			case err != nil || n != tc.want:
				t.Fatalf("Frame = %d, %v; want %d", n, err, tc.want)
			}
		})
	}
}

// pair returns both ends of a loopback TCP connection.
func pair(t *testing.T) (client, server *net.TCPConn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	s, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(); s.Close() })
	return c.(*net.TCPConn), s.(*net.TCPConn)
}

// TestReadConsumesExactlyTheHeader: the header arrives in pieces, the payload right behind it;
// Read returns the header and the payload is still there to read.
func TestReadConsumesExactlyTheHeader(t *testing.T) {
	v1 := []byte("PROXY TCP6 2001:db8::1 2001:db8::2 56324 443\r\n")
	v2 := v2Header(t, "192.0.2.1:56324", "198.51.100.2:443")
	for _, tc := range []struct {
		name   string
		header []byte
		src    string
	}{{"v1", v1, "[2001:db8::1]:56324"}, {"v2", v2, "192.0.2.1:56324"}} {
		t.Run(tc.name, func(t *testing.T) {
			c, s := pair(t)
			payload := "\x16\x03\x01 the rest of the stream"
			go func() {
				wire := append(append([]byte{}, tc.header...), payload...)
				for i := 0; i < len(wire); i += 5 { // 5-byte pieces, so Read must wait for more
					c.Write(wire[i:min(i+5, len(wire))])
					time.Sleep(time.Millisecond)
				}
			}()
			s.SetReadDeadline(time.Now().Add(5 * time.Second))
			h, err := Read(s)
			if err != nil {
				t.Fatal(err)
			}
			if h.Source.String() != tc.src {
				t.Fatalf("source %v, want %s", h.Source, tc.src)
			}
			rest := make([]byte, len(payload))
			if _, err := io.ReadFull(s, rest); err != nil || string(rest) != payload {
				t.Fatalf("after the header: %q, %v; want %q", rest, err, payload)
			}
		})
	}
}

func TestReadRejects(t *testing.T) {
	tests := []struct{ name, send, wantErr string }{
		{"not a header", "GET / HTTP/1.1\r\n", "no PROXY header"},
		{"garbage v1", "PROXY TCP4 banana\r\n", "proxy protocol"},
		{"closed early", "PROXY TCP4", "closed before"},
		{"silent peer times out", "", "timeout"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, s := pair(t)
			c.Write([]byte(tc.send))
			if tc.name == "closed early" {
				c.CloseWrite()
			}
			s.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
			_, err := Read(s)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("Read: %v, want an error containing %q", err, tc.wantErr)
			}
		})
	}
}

func TestHasSignature(t *testing.T) {
	tests := []struct {
		name, send string
		want       bool
	}{
		{"v1", "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n", true},
		{"v2", "\r\n\r\n\x00\r\nQUIT\n\x21\x11\x00\x0c", true},
		{"TLS", "\x16\x03\x01\x02\x00\x01", false},
		{"POST", "POST / HTTP/1.1\r\n", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, s := pair(t)
			c.Write([]byte(tc.send))
			s.SetReadDeadline(time.Now().Add(5 * time.Second))
			got, err := HasSignature(s)
			if err != nil || got != tc.want {
				t.Fatalf("HasSignature = %v, %v; want %v", got, err, tc.want)
			}
			buf := make([]byte, len(tc.send)) // nothing was consumed
			if _, err := io.ReadFull(s, buf); err != nil || string(buf) != tc.send {
				t.Fatalf("bytes after HasSignature: %q, %v", buf, err)
			}
		})
	}
}

// TestParse pins what tether takes from a header: TCP addresses (a TCP4 header's always dotted
// IPv4, a TCP6 header's as sent), and no client for UNKNOWN, LOCAL or non-TCP families.
func TestParse(t *testing.T) {
	local := []byte("\r\n\r\n\x00\r\nQUIT\n\x20\x00\x00\x00")
	udp := []byte("\r\n\r\n\x00\r\nQUIT\n\x21\x12\x00\x0c\xc0\x00\x02\x01\xc6\x33\x64\x02\xdc\x04\x01\xbb")
	tests := []struct {
		name     string
		in       []byte
		version  int
		src, dst string // "" : no client
	}{
		{"v1 tcp4", []byte("PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\r\n"), 1, "192.0.2.1:56324", "198.51.100.2:443"},
		{"v1 tcp6", []byte("PROXY TCP6 2001:db8::1 2001:db8::2 56324 443\r\n"), 1, "[2001:db8::1]:56324", "[2001:db8::2]:443"},
		{"v1 tcp6 4-in-6 stays", []byte("PROXY TCP6 ::ffff:192.0.2.1 2001:db8::2 1 2\r\n"), 1, "[::ffff:192.0.2.1]:1", "[2001:db8::2]:2"},
		{"v1 unknown", []byte("PROXY UNKNOWN\r\n"), 1, "", ""},
		{"v2 tcp4", v2Header(t, "192.0.2.1:56324", "198.51.100.2:443"), 2, "192.0.2.1:56324", "198.51.100.2:443"},
		{"v2 tcp6", v2Header(t, "[2001:db8::1]:1", "[2001:db8::2]:2"), 2, "[2001:db8::1]:1", "[2001:db8::2]:2"},
		{"v2 local (health check)", local, 2, "", ""},
		{"v2 udp4", udp, 2, "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h, err := Parse(tc.in)
			if err != nil {
				t.Fatal(err)
			}
			src, dst := "", ""
			if h.HasClient() {
				src, dst = h.Source.String(), h.Dest.String()
			}
			if h.Version != tc.version || src != tc.src || dst != tc.dst {
				t.Fatalf("Parse = v%d %q -> %q, want v%d %q -> %q", h.Version, src, dst, tc.version, tc.src, tc.dst)
			}
			if h.HasClient() && strings.HasPrefix(tc.name, "v") && strings.Contains(tc.name, "tcp4") && !h.Source.Addr().Is4() {
				t.Fatalf("TCP4 source %v is not plain IPv4", h.Source)
			}
		})
	}
}
