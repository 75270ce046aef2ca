package preamble

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// incomplete as parseCase.status means Parse must return ErrIncomplete.
const incomplete = -1

type parseCase struct {
	name string
	in   string
	mode Mode // zero: ModeHTTP

	// Failure: status != 0. reason and header are substrings of the
	// Reject's Reason and Header.
	status int
	reason string
	header string

	// Success: the expected parts; length 0 means len(in).
	method, target string
	proto          string // Proto, checked if set
	length         int
	nh             int               // NumHeaders, checked if > 0
	hdr            map[string]string // Header(name) must equal value
}

func manyHeaders(n int) string {
	lines := []string{"GET / HTTP/1.1", "Host: a"}
	for i := 1; i < n; i++ {
		lines = append(lines, fmt.Sprintf("X-H%d: %d", i, i))
	}
	return head(lines...)
}

var parseCases = []parseCase{
	// ---- Real-world heads that must pass.
	{name: "chrome upgrade/websocket", in: chromeUpgrade, mode: ModeWebSocket,
		method: "GET", target: "/chat?room=42&token=s3cr%2Ft", proto: "HTTP/1.1", nh: 13,
		hdr: map[string]string{"host": "ws.example.com", "SEC-WEBSOCKET-KEY": "dGhlIHNhbXBsZSBub25jZQ==", "X-Absent": ""}},
	{name: "chrome upgrade/http", in: chromeUpgrade, mode: ModeHTTP, method: "GET", proto: "HTTP/1.1"},
	{name: "firefox upgrade/websocket", in: firefoxUpgrade, mode: ModeWebSocket,
		method: "GET", target: "/socket.io/?EIO=4&transport=websocket&sid=Xy3_kmQ", proto: "HTTP/1.1", nh: 16},
	{name: "socket.io polling/http", in: socketioPoll, mode: ModeHTTP,
		method: "GET", target: "/socket.io/?EIO=4&transport=polling&t=N8hyd6w", proto: "HTTP/1.1", nh: 8,
		hdr: map[string]string{"Sec-Ch-Ua-Platform": `"Linux"`, "Referer": "http://localhost:3000/"}},
	{name: "socket.io POST with body/http", in: socketioPost, mode: ModeHTTP,
		method: "POST", proto: "HTTP/1.1", length: len(socketioPost) - len(socketioPostBody),
		hdr: map[string]string{"content-length": "16", "Content-Type": "text/plain;charset=UTF-8"}},
	{name: "upgrade head followed by an early frame", in: chromeUpgrade + "\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58",
		mode: ModeWebSocket, method: "GET", length: len(chromeUpgrade)},
	{name: "zero mode acts like http", in: socketioPoll, mode: 0, method: "GET"},

	// ---- Request line: accepted variants.
	{name: "HTTP/1.0 without Host", in: "GET / HTTP/1.0\r\n\r\n", method: "GET", target: "/", proto: "HTTP/1.0"},
	{name: "HTTP/1.0 with Host", in: "HEAD /x HTTP/1.0\r\nHost: a\r\n\r\n", method: "HEAD", target: "/x", proto: "HTTP/1.0"},
	{name: "extension method token", in: "M-SEARCH * HTTP/1.1\r\nHost: a\r\n\r\n", method: "M-SEARCH", target: "*"},
	{name: "absolute-form target", in: "GET http://a.example/x?y HTTP/1.1\r\nHost: a.example\r\n\r\n", target: "http://a.example/x?y"},
	{name: "authority-form target", in: "CONNECT a.example:443 HTTP/1.1\r\nHost: a.example:443\r\n\r\n", method: "CONNECT", target: "a.example:443"},
	{name: "obs-text in target", in: "GET /caf\xc3\xa9 HTTP/1.1\r\nHost: a\r\n\r\n", target: "/caf\xc3\xa9"},
	{name: "bare LF line endings (RFC 9112 2.2)", in: "GET / HTTP/1.1\nHost: a\nX: y\n\n", hdr: map[string]string{"X": "y"}},
	{name: "mixed CRLF and LF", in: "GET / HTTP/1.1\r\nHost: a\nX: y\r\n\n", hdr: map[string]string{"x": "y"}},
	{name: "leading empty lines are skipped and counted", in: "\r\n\n\r\n\nGET /e HTTP/1.1\r\nHost: a\r\n\r\n", target: "/e"},

	// ---- Request line: refused.
	{name: "HTTP/0.9 simple request", in: "GET /\r\n\r\n", status: 400, reason: "HTTP/0.9"},
	{name: "HTTP/0.9 version", in: "GET / HTTP/0.9\r\n\r\n", status: 400, reason: "unsupported HTTP version"},
	{name: "HTTP/1.2", in: "GET / HTTP/1.2\r\nHost: a\r\n\r\n", status: 400, reason: "unsupported HTTP version"},
	{name: "HTTP/2 preface", in: "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", status: 505, reason: "HTTP/1.1"},
	{name: "HTTP/2 without minor", in: "GET / HTTP/2\r\nHost: a\r\n\r\n", status: 505},
	{name: "HTTP/3.0", in: "GET / HTTP/3.0\r\nHost: a\r\n\r\n", status: 505},
	{name: "lower-case http", in: "GET / http/1.1\r\nHost: a\r\n\r\n", status: 400, reason: "malformed request line"},
	{name: "two-digit minor", in: "GET / HTTP/1.10\r\nHost: a\r\n\r\n", status: 400, reason: "malformed request line"},
	{name: "trailing space after version", in: "GET / HTTP/1.1 \r\nHost: a\r\n\r\n", status: 400, reason: "malformed request line"},
	{name: "two spaces before target", in: "GET  / HTTP/1.1\r\nHost: a\r\n\r\n", status: 400, reason: "empty request target"},
	{name: "two spaces before version", in: "GET /  HTTP/1.1\r\nHost: a\r\n\r\n", status: 400, reason: "malformed request line"},
	{name: "space in target", in: "GET /a b HTTP/1.1\r\nHost: a\r\n\r\n", status: 400, reason: "malformed request line"},
	{name: "HTAB after method", in: "GET\t/ HTTP/1.1\r\nHost: a\r\n\r\n", status: 400, reason: "malformed request line"},
	{name: "HTAB after target", in: "GET /\tHTTP/1.1\r\nHost: a\r\n\r\n", status: 400, reason: "request target"},
	{name: "leading space", in: " GET / HTTP/1.1\r\nHost: a\r\n\r\n", status: 400, reason: "method"},
	{name: "non-token method", in: "GE(T / HTTP/1.1\r\nHost: a\r\n\r\n", status: 400, reason: "method"},
	{name: "obs-text method", in: "G\xc3\x89T / HTTP/1.1\r\nHost: a\r\n\r\n", status: 400, reason: "method"},
	{name: "method only", in: "GET\r\n\r\n", status: 400, reason: "malformed request line"},
	{name: "response instead of request", in: "HTTP/1.1 200 OK\r\n\r\n", status: 400, reason: "method"},
	{name: "NUL in target", in: "GET /\x00 HTTP/1.1\r\nHost: a\r\n\r\n", status: 400, reason: "control character"},
	{name: "DEL in target", in: "GET /\x7f HTTP/1.1\r\nHost: a\r\n\r\n", status: 400, reason: "control character"},
	{name: "TLS ClientHello is refused before any LF", in: "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", status: 400, reason: "control character"},
	{name: "bare CR", in: "GET / HTTP/1.1\rHost: a\r\n\r\n", status: 400, reason: "bare CR"},
	{name: "five leading empty lines", in: "\r\n\r\n\r\n\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", status: 400, reason: "empty lines"},

	// ---- Incomplete heads.
	{name: "empty", in: "", status: incomplete},
	{name: "partial method", in: "GE", status: incomplete},
	{name: "request line only", in: "GET / HTTP/1.1\r\n", status: incomplete},
	{name: "no final empty line", in: "GET / HTTP/1.1\r\nHost: a\r\n", status: incomplete},
	{name: "final CR without LF", in: "GET / HTTP/1.1\r\nHost: a\r\n\r", status: incomplete},
	{name: "only empty lines", in: "\r\n\r\n", status: incomplete},
	{name: "partial field with obs-text", in: "GET / HTTP/1.1\r\nHost: a\r\nX: caf\xc3", status: incomplete},

	// ---- Header fields: accepted variants.
	{name: "OWS trimmed", in: "GET / HTTP/1.1\r\nHost:a\r\nX:\t v \t\r\nY: in ner\r\n\r\n",
		hdr: map[string]string{"Host": "a", "X": "v", "Y": "in ner"}},
	{name: "empty value", in: "GET / HTTP/1.1\r\nHost: a\r\nX:\r\nY:   \r\n\r\n", nh: 3, hdr: map[string]string{"X": "", "Y": ""}},
	{name: "obs-text value", in: "GET / HTTP/1.1\r\nHost: a\r\nX: caf\xc3\xa9\r\n\r\n", hdr: map[string]string{"X": "caf\xc3\xa9"}},
	{name: "first of repeated header", in: "GET / HTTP/1.1\r\nHost: a\r\nX: 1\r\nX: 2\r\n\r\n", nh: 3, hdr: map[string]string{"x": "1"}},
	{name: "128 headers", in: manyHeaders(128), nh: 128, hdr: map[string]string{"X-H127": "127"}},
	{name: "Host with port", in: "GET / HTTP/1.1\r\nHost: example.com:8080\r\n\r\n", hdr: map[string]string{"Host": "example.com:8080"}},
	{name: "Host empty (RFC 9112 3.2)", in: "GET / HTTP/1.1\r\nHost:\r\n\r\n", hdr: map[string]string{"Host": ""}},
	{name: "Host IPv6 literal", in: "GET / HTTP/1.1\r\nHost: [::1]:443\r\n\r\n"},
	{name: "Host empty port", in: "GET / HTTP/1.1\r\nHost: a:\r\n\r\n"},

	// ---- Header fields: refused.
	{name: "space before colon", in: "GET / HTTP/1.1\r\nHost : a\r\n\r\n", status: 400, reason: "whitespace between header field name and colon"},
	{name: "HTAB before colon", in: "GET / HTTP/1.1\r\nHost: a\r\nX\t: b\r\n\r\n", status: 400, reason: "colon"},
	{name: "obs-fold", in: "GET / HTTP/1.1\r\nHost: a\r\nX: b\r\n  c\r\n\r\n", status: 400, reason: "folding"},
	{name: "whitespace before first field", in: "GET / HTTP/1.1\r\n Host: a\r\n\r\n", status: 400, reason: "first header field"},
	{name: "no colon", in: "GET / HTTP/1.1\r\nHost: a\r\nNoColon\r\n\r\n", status: 400, reason: "without colon"},
	{name: "space instead of colon", in: "GET / HTTP/1.1\r\nHost: a\r\nX y\r\n\r\n", status: 400, reason: "without colon"},
	{name: "empty field name", in: "GET / HTTP/1.1\r\nHost: a\r\n: b\r\n\r\n", status: 400, reason: "field name"},
	{name: "non-token field name", in: "GET / HTTP/1.1\r\nHost: a\r\nX(y): b\r\n\r\n", status: 400, reason: "field name"},
	{name: "SOH in value", in: "GET / HTTP/1.1\r\nHost: a\r\nX: a\x01b\r\n\r\n", status: 400, reason: "control character"},
	{name: "NUL in value", in: "GET / HTTP/1.1\r\nHost: a\r\nX: \x00\r\n\r\n", status: 400, reason: "control character"},
	{name: "DEL in value", in: "GET / HTTP/1.1\r\nHost: a\r\nX: a\x7f\r\n\r\n", status: 400, reason: "control character"},
	{name: "bare CR in value", in: "GET / HTTP/1.1\r\nHost: a\r\nX: a\rb\r\n\r\n", status: 400, reason: "bare CR"},
	{name: "129 headers", in: manyHeaders(129), status: 400, reason: "too many header fields"},
	{name: "HTTP/1.1 without Host", in: "GET / HTTP/1.1\r\nX: y\r\n\r\n", status: 400, reason: "missing Host"},
	{name: "two Host", in: "GET / HTTP/1.1\r\nHost: a\r\nhost: a\r\n\r\n", status: 400, reason: "more than one Host"},
	{name: "two Host in HTTP/1.0", in: "GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n", status: 400, reason: "more than one Host"},
	{name: "Host with space", in: "GET / HTTP/1.1\r\nHost: a b\r\n\r\n", status: 400, reason: "invalid Host"},
	{name: "Host with slash", in: "GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", status: 400, reason: "invalid Host"},
	{name: "Host with bad port", in: "GET / HTTP/1.1\r\nHost: a:80x\r\n\r\n", status: 400, reason: "invalid Host"},
	{name: "Host bare IPv6", in: "GET / HTTP/1.1\r\nHost: ::1\r\n\r\n", status: 400, reason: "invalid Host"},
	{name: "Host unclosed IP literal", in: "GET / HTTP/1.1\r\nHost: [::1\r\n\r\n", status: 400, reason: "invalid Host"},
	{name: "Host junk after IP literal", in: "GET / HTTP/1.1\r\nHost: [::1]x\r\n\r\n", status: 400, reason: "invalid Host"},

	// ---- ModeWebSocket: accepted variants.
	{name: "ws minimal", in: wsHead(upLine, connLine, keyLine, verLine), mode: ModeWebSocket, method: "GET", target: "/ws"},
	{name: "ws tokens case-insensitive", in: wsHead("upgrade: WebSocket", "CONNECTION: keep-alive,UPGRADE", keyLine, verLine), mode: ModeWebSocket},
	{name: "ws tokens in lists and repeated lines", in: wsHead("Upgrade: foo/1, websocket", "Connection: keep-alive", "Connection: , Upgrade ,", keyLine, verLine), mode: ModeWebSocket},

	// ---- ModeWebSocket: refused.
	{name: "ws plain GET", in: socketioPoll, mode: ModeWebSocket, status: 426, reason: "WebSocket upgrade required", header: "Upgrade: websocket\r\nConnection: Upgrade\r\n"},
	{name: "ws POST with body", in: socketioPost, mode: ModeWebSocket, status: 426, header: "Upgrade: websocket"},
	{name: "ws other upgrade protocol", in: wsHead("Upgrade: h2c", "Connection: Upgrade, HTTP2-Settings", "HTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA"), mode: ModeWebSocket, status: 426},
	{name: "ws token must match whole element", in: wsHead("Upgrade: websockets", connLine, keyLine, verLine), mode: ModeWebSocket, status: 426},
	{name: "ws not GET", in: head("POST /ws HTTP/1.1", "Host: a", upLine, connLine, keyLine, verLine), mode: ModeWebSocket, status: 400, reason: "GET"},
	{name: "ws HTTP/1.0", in: head("GET /ws HTTP/1.0", upLine, connLine, keyLine, verLine), mode: ModeWebSocket, status: 400, reason: "HTTP/1.1"},
	{name: "ws no Connection", in: wsHead(upLine, keyLine, verLine), mode: ModeWebSocket, status: 400, reason: "Connection"},
	{name: "ws Connection without upgrade", in: wsHead(upLine, "Connection: keep-alive", keyLine, verLine), mode: ModeWebSocket, status: 400, reason: "Connection"},
	{name: "ws no key", in: wsHead(upLine, connLine, verLine), mode: ModeWebSocket, status: 400, reason: "Sec-WebSocket-Key"},
	{name: "ws empty key", in: wsHead(upLine, connLine, "Sec-WebSocket-Key:", verLine), mode: ModeWebSocket, status: 400, reason: "Sec-WebSocket-Key"},
	{name: "ws key of 10 bytes", in: wsHead(upLine, connLine, "Sec-WebSocket-Key: dGhlIHNhbXBsZQ==", verLine), mode: ModeWebSocket, status: 400, reason: "Sec-WebSocket-Key"},
	{name: "ws key of 18 bytes", in: wsHead(upLine, connLine, "Sec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAAAAAA", verLine), mode: ModeWebSocket, status: 400, reason: "Sec-WebSocket-Key"},
	{name: "ws key not base64", in: wsHead(upLine, connLine, "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ!=", verLine), mode: ModeWebSocket, status: 400, reason: "Sec-WebSocket-Key"},
	{name: "ws key url-safe base64", in: wsHead(upLine, connLine, "Sec-WebSocket-Key: _-_-_-_-_-_-_-_-_-_-_w==", verLine), mode: ModeWebSocket, status: 400, reason: "Sec-WebSocket-Key"},
	{name: "ws two keys", in: wsHead(upLine, connLine, keyLine, keyLine, verLine), mode: ModeWebSocket, status: 400, reason: "Sec-WebSocket-Key"},
	{name: "ws no version", in: wsHead(upLine, connLine, keyLine), mode: ModeWebSocket, status: 426, header: "Sec-WebSocket-Version: 13\r\n"},
	{name: "ws version 8", in: wsHead(upLine, connLine, keyLine, "Sec-WebSocket-Version: 8"), mode: ModeWebSocket, status: 426, reason: "Sec-WebSocket-Version", header: "Sec-WebSocket-Version: 13\r\n"},
	{name: "ws version list", in: wsHead(upLine, connLine, keyLine, "Sec-WebSocket-Version: 13, 8"), mode: ModeWebSocket, status: 426},
	// A malformed head is refused by Parse whatever the mode.
	{name: "ws malformed head", in: "GET / HTTP/1.1\r\nHost : a\r\n\r\n", mode: ModeWebSocket, status: 400, reason: "colon"},
}

func (tc *parseCase) mode1() Mode {
	if tc.mode == 0 && !strings.HasPrefix(tc.name, "zero mode") {
		return ModeHTTP
	}
	return tc.mode
}

// verify checks the outcome of Parse+Check (or Read) against tc.
func (tc *parseCase) verify(t *testing.T, h *Head, err error) {
	t.Helper()
	switch tc.status {
	case incomplete:
		if err != ErrIncomplete {
			t.Fatalf("err = %v, want ErrIncomplete", err)
		}
		return
	case 0:
		if err != nil {
			t.Fatalf("err = %v, want success", err)
		}
	default:
		var rej *Reject
		if !errors.As(err, &rej) {
			t.Fatalf("err = %v (%T), want *Reject %d", err, err, tc.status)
		}
		if rej.Status != tc.status || !strings.Contains(rej.Reason, tc.reason) || !strings.Contains(rej.Header, tc.header) {
			t.Fatalf("reject = %d %q %q, want %d with reason ~%q, header ~%q",
				rej.Status, rej.Reason, rej.Header, tc.status, tc.reason, tc.header)
		}
		return
	}
	wantLen := tc.length
	if wantLen == 0 {
		wantLen = len(tc.in)
	}
	if h.Len() != wantLen {
		t.Errorf("Len = %d, want %d", h.Len(), wantLen)
	}
	if string(h.Bytes()) != tc.in[:wantLen] {
		t.Errorf("Bytes = %q, want %q", h.Bytes(), tc.in[:wantLen])
	}
	if tc.method != "" && string(h.Method()) != tc.method {
		t.Errorf("Method = %q, want %q", h.Method(), tc.method)
	}
	if tc.target != "" && string(h.Target()) != tc.target {
		t.Errorf("Target = %q, want %q", h.Target(), tc.target)
	}
	if tc.proto != "" && string(h.Proto()) != tc.proto {
		t.Errorf("Proto = %q, want %q", h.Proto(), tc.proto)
	}
	if want := fmt.Sprintf("HTTP/1.%d", h.ProtoMinor()); string(h.Proto()) != want {
		t.Errorf("Proto = %q but ProtoMinor = %d", h.Proto(), h.ProtoMinor())
	}
	if tc.nh > 0 && h.NumHeaders() != tc.nh {
		t.Errorf("NumHeaders = %d, want %d", h.NumHeaders(), tc.nh)
	}
	for name, want := range tc.hdr {
		got := h.Header(name)
		if want == "" && name == "X-Absent" {
			if got != nil {
				t.Errorf("Header(%q) = %q, want nil", name, got)
			}
			continue
		}
		if got == nil || string(got) != want {
			t.Errorf("Header(%q) = %q (nil=%t), want %q", name, got, got == nil, want)
		}
	}
}

func TestParseCheck(t *testing.T) {
	for _, tc := range parseCases {
		t.Run(tc.name, func(t *testing.T) {
			var h Head
			err := Parse([]byte(tc.in), &h)
			if err == nil {
				err = Check(&h, tc.mode1())
			}
			tc.verify(t, &h, err)
			if err != nil {
				return
			}
			// Every proper prefix of a head is incomplete, never refused.
			for k := 0; k < h.Len(); k++ {
				var p Head
				if perr := Parse([]byte(tc.in[:k]), &p); perr != ErrIncomplete {
					t.Fatalf("Parse(prefix %d) = %v, want ErrIncomplete", k, perr)
				}
			}
		})
	}
}

// TestParseReuse checks that a Head reused for a shorter head forgets the
// previous one.
func TestParseReuse(t *testing.T) {
	var h Head
	if err := Parse([]byte(chromeUpgrade), &h); err != nil {
		t.Fatal(err)
	}
	in := "GET /b HTTP/1.0\r\n\r\n"
	if err := Parse([]byte(in), &h); err != nil {
		t.Fatal(err)
	}
	if h.NumHeaders() != 0 || h.Header("Host") != nil || h.Len() != len(in) || string(h.Target()) != "/b" {
		t.Fatalf("reused head: n=%d host=%q len=%d target=%q", h.NumHeaders(), h.Header("Host"), h.Len(), h.Target())
	}
}

func TestZeroHead(t *testing.T) {
	var h Head
	if h.Method() != nil || h.Target() != nil || h.Bytes() != nil || h.Header("Host") != nil ||
		h.Cookie("a") != nil || h.Query("a") != nil || h.HasToken("Connection", "upgrade") ||
		h.Len() != 0 || h.NumHeaders() != 0 {
		t.Fatal("zero Head is not empty")
	}
}

func TestHeaderAt(t *testing.T) {
	var h Head
	if err := Parse([]byte("GET / HTTP/1.1\r\nHost: a\r\nX-Y:  z \r\n\r\n"), &h); err != nil {
		t.Fatal(err)
	}
	want := [][2]string{{"Host", "a"}, {"X-Y", "z"}}
	if h.NumHeaders() != len(want) {
		t.Fatalf("NumHeaders = %d", h.NumHeaders())
	}
	for i, w := range want {
		if n, v := h.HeaderAt(i); string(n) != w[0] || string(v) != w[1] {
			t.Errorf("HeaderAt(%d) = %q, %q; want %q, %q", i, n, v, w[0], w[1])
		}
	}
	// Returned slices are capped: appending must not overwrite the buffer.
	n, _ := h.HeaderAt(0)
	_ = append(n, 'X')
	if n2, _ := h.HeaderAt(0); string(n2) != "Host" || h.Header("Host") == nil {
		t.Fatal("append to a returned slice changed the buffer")
	}
	for _, i := range []int{-1, 2} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("HeaderAt(%d) did not panic", i)
				}
			}()
			h.HeaderAt(i)
		}()
	}
}
