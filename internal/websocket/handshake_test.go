package websocket

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
)

func TestComputeAccept(t *testing.T) {
	// RFC 6455 section 1.3: key "dGhlIHNhbXBsZSBub25jZQ==" gives
	// "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" (base64 of a 20-byte SHA-1, 28 chars).
	if got, want := computeAccept("dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="; got != want {
		t.Fatalf("computeAccept = %q, want %q", got, want)
	}
}

func TestValidKey(t *testing.T) {
	tests := []struct {
		key  string
		want bool
	}{
		{"dGhlIHNhbXBsZSBub25jZQ==", true},
		{"AAAAAAAAAAAAAAAAAAAAAA==", true},      // an all-zero nonce is still 16 bytes
		{"", false},                             // missing
		{"dGhlIHNhbXBsZSBub25jZQ", false},       // unpadded
		{"dGhlIHNhbXBsZSBub25jZSE=", false},     // 17 bytes
		{"dGhlIHNhbXBsZSBub25jZQ==dGhl", false}, // too long
		{"!!!!!!!!!!!!!!!!!!!!!!==", false},     // not base64
		{"dGhlIHNhbXBsZSBub25jZQ=A", false},     // bad padding
		{"dGhlIHNhbXBsZSBub25jZQ-=", false},     // URL alphabet
		{" dGhlIHNhbXBsZSBub25jZQ=", false},     // stray space
	}
	for _, tt := range tests {
		if got := validKey(tt.key); got != tt.want {
			t.Errorf("validKey(%q) = %v, want %v", tt.key, got, tt.want)
		}
	}
}

// rawRequest sends a hand-written HTTP request to srv and returns the
// response with its body read.
func rawRequest(t *testing.T, useTLS bool, h http.Handler, req string) (*http.Response, string) {
	t.Helper()
	srv := newServer(t, useTLS, h)
	conn := dialRaw(t, srv, "")
	if _, err := io.WriteString(conn, req); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("read response: %v", err)
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	return resp, string(body)
}

func TestUpgradeRejects(t *testing.T) {
	const key = "dGhlIHNhbXBsZSBub25jZQ=="
	good := map[string]string{
		"Host":                  "example.com",
		"Upgrade":               "websocket",
		"Connection":            "Upgrade",
		"Sec-WebSocket-Key":     key,
		"Sec-WebSocket-Version": "13",
	}
	build := func(method string, override map[string]string, extra ...string) string {
		var b strings.Builder
		fmt.Fprintf(&b, "%s /ws HTTP/1.1\r\n", method)
		for _, k := range []string{"Host", "Upgrade", "Connection", "Sec-WebSocket-Key", "Sec-WebSocket-Version"} {
			v, ok := override[k]
			if !ok {
				v = good[k]
			}
			if v != "" {
				fmt.Fprintf(&b, "%s: %s\r\n", k, v)
			}
		}
		for _, e := range extra {
			b.WriteString(e + "\r\n")
		}
		b.WriteString("Content-Length: 0\r\n\r\n")
		return b.String()
	}
	tests := []struct {
		name        string
		req         string
		wantStatus  int
		wantVersion bool // Sec-WebSocket-Version: 13 in the response
	}{
		{"valid", build("GET", nil), http.StatusSwitchingProtocols, false},
		{"valid, token lists and case", build("GET", map[string]string{"Upgrade": "foo, WebSocket", "Connection": "keep-alive, upgrade"}), http.StatusSwitchingProtocols, false},
		{"plain GET", "GET /ws HTTP/1.1\r\nHost: x\r\n\r\n", http.StatusUpgradeRequired, true},
		{"missing key", build("GET", map[string]string{"Sec-WebSocket-Key": ""}), http.StatusBadRequest, false},
		{"short key", build("GET", map[string]string{"Sec-WebSocket-Key": "c2hvcnQ="}), http.StatusBadRequest, false},
		{"two keys", build("GET", nil, "Sec-WebSocket-Key: "+key), http.StatusBadRequest, false},
		{"wrong version", build("GET", map[string]string{"Sec-WebSocket-Version": "8"}), http.StatusUpgradeRequired, true},
		{"missing version", build("GET", map[string]string{"Sec-WebSocket-Version": ""}), http.StatusUpgradeRequired, true},
		{"POST", build("POST", nil), http.StatusBadRequest, false},
		{"no Connection: Upgrade", build("GET", map[string]string{"Connection": "keep-alive"}), http.StatusBadRequest, false},
		{"HTTP/1.0", strings.Replace(build("GET", nil), "HTTP/1.1", "HTTP/1.0", 1), http.StatusBadRequest, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			upgradeErr := make(chan error, 1)
			h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				c, err := Upgrade(w, r)
				upgradeErr <- err
				if err == nil {
					c.NetConn().Close()
				}
			})
			resp, body := rawRequest(t, false, h, tt.req)
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status %d (%q), want %d", resp.StatusCode, body, tt.wantStatus)
			}
			if got := resp.Header.Get("Sec-WebSocket-Version") == "13"; got != tt.wantVersion {
				t.Fatalf("Sec-WebSocket-Version header present = %v, want %v", got, tt.wantVersion)
			}
			err := recv(t, upgradeErr)
			if tt.wantStatus == http.StatusSwitchingProtocols {
				if err != nil {
					t.Fatalf("Upgrade: %v", err)
				}
				if got := resp.Header.Get("Sec-WebSocket-Accept"); got != "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" {
					t.Fatalf("Sec-WebSocket-Accept = %q, want the RFC 6455 section 1.3 value", got)
				}
				return
			}
			if !errors.Is(err, ErrBadHandshake) {
				t.Fatalf("Upgrade error = %v, want ErrBadHandshake", err)
			}
		})
	}
}

// TestClientValidatesResponse lets a server answer the handshake with
// deliberately broken responses (RFC 6455 section 4.1).
func TestClientValidatesResponse(t *testing.T) {
	tests := []struct {
		name    string
		respond func(key string) string
		ok      bool
	}{
		{"valid", func(k string) string {
			return "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " + computeAccept(k) + "\r\n\r\n"
		}, true},
		{"status 200", func(k string) string {
			return "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi"
		}, false},
		{"wrong accept", func(k string) string {
			return "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " + computeAccept(k+"x") + "\r\n\r\n"
		}, false},
		{"no Upgrade", func(k string) string {
			return "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " + computeAccept(k) + "\r\n\r\n"
		}, false},
		{"no Connection", func(k string) string {
			return "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nSec-WebSocket-Accept: " + computeAccept(k) + "\r\n\r\n"
		}, false},
		{"unrequested extension", func(k string) string {
			return "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Extensions: permessage-deflate\r\nSec-WebSocket-Accept: " + computeAccept(k) + "\r\n\r\n"
		}, false},
		{"unrequested subprotocol", func(k string) string {
			return "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Protocol: chat\r\nSec-WebSocket-Accept: " + computeAccept(k) + "\r\n\r\n"
		}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newServer(t, false, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				conn, _, err := http.NewResponseController(w).Hijack()
				if err != nil {
					return
				}
				defer conn.Close()
				_, _ = io.WriteString(conn, tt.respond(r.Header.Get("Sec-WebSocket-Key")))
				// Frames sent right behind the response must not be lost.
				_, _ = conn.Write(rawFrame(true, OpText, []byte("first"), false))
				_, _ = io.Copy(io.Discard, conn)
			}))
			c, resp, err := Client(dialRaw(t, srv, ""), wsURL(srv, "/"), nil)
			if !tt.ok {
				if !errors.Is(err, ErrBadHandshake) {
					t.Fatalf("Client error = %v, want ErrBadHandshake", err)
				}
				if resp == nil {
					t.Fatal("no response returned with the handshake error")
				}
				return
			}
			if err != nil {
				t.Fatalf("Client: %v", err)
			}
			defer c.NetConn().Close()
			if resp.StatusCode != http.StatusSwitchingProtocols {
				t.Fatalf("status %d", resp.StatusCode)
			}
			if _, p, err := c.ReadMessage(); err != nil || string(p) != "first" {
				t.Fatalf("first message = %q, %v", p, err)
			}
		})
	}
}

func TestClientRequest(t *testing.T) {
	seen := make(chan *http.Request, 1)
	srv := newServer(t, true, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen <- r
		if c, err := Upgrade(w, r); err == nil {
			c.Close()
		}
	}))
	hdr := http.Header{"Origin": {"https://demo.example"}, "x-custom": {"a\r\nInjected: yes"}, "Host": {"virtual.example"}}
	c, _, err := Client(dialRaw(t, srv, ""), wsURL(srv, "/path/x?q=1"), hdr)
	if err != nil {
		t.Fatalf("Client: %v", err)
	}
	defer c.Close()
	r := recv(t, seen)
	switch {
	case r.URL.RequestURI() != "/path/x?q=1":
		t.Errorf("request URI %q", r.URL.RequestURI())
	case r.Host != "virtual.example":
		t.Errorf("Host %q", r.Host)
	case r.Header.Get("Origin") != "https://demo.example":
		t.Errorf("Origin %q", r.Header.Get("Origin"))
	case r.Header.Get("Injected") != "":
		t.Errorf("header injection through a value: %q", r.Header)
	case r.Header.Get("Sec-WebSocket-Version") != "13" || !validKey(r.Header.Get("Sec-WebSocket-Key")):
		t.Errorf("handshake headers %q", r.Header)
	}

	bad := []struct {
		name string
		url  string
		hdr  http.Header
	}{
		{"bad scheme", "ftp://x/", nil},
		{"no host", "ws:///path", nil},
		{"reserved header", "ws://x/", http.Header{"Sec-WebSocket-Key": {"x"}}},
		{"reserved header, lower case", "ws://x/", http.Header{"upgrade": {"h2c"}}},
		{"bad header name", "ws://x/", http.Header{"Bad: Name": {"x"}}},
		{"host with CRLF", "ws://x/", http.Header{"Host": {"x\r\nEvil: 1"}}},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			conn := &fakeConn{r: strings.NewReader("")}
			if _, _, err := Client(conn, tt.url, tt.hdr); err == nil {
				t.Fatal("Client succeeded")
			}
			if conn.written != 0 {
				t.Fatalf("wrote %d bytes before rejecting the request", conn.written)
			}
		})
	}
}
