package preamble

import "testing"

func mustParse(t testing.TB, in string) *Head {
	t.Helper()
	h := new(Head)
	if err := Parse([]byte(in), h); err != nil {
		t.Fatalf("Parse(%q): %v", in, err)
	}
	return h
}

// lookupCase expects got == want; nilWant means the result must be nil.
type lookupCase struct {
	head, name, want string
	nilWant          bool
}

func checkLookup(t *testing.T, what string, get func(*Head, string) []byte, cases []lookupCase) {
	t.Helper()
	for _, tc := range cases {
		h := mustParse(t, tc.head)
		got := get(h, tc.name)
		switch {
		case tc.nilWant && got != nil:
			t.Errorf("%s(%q) in %q = %q, want nil", what, tc.name, tc.head, got)
		case !tc.nilWant && (got == nil || string(got) != tc.want):
			t.Errorf("%s(%q) in %q = %q (nil=%t), want %q", what, tc.name, tc.head, got, got == nil, tc.want)
		}
	}
}

// TestCookie: Cookie reads a cookie as nginx 1.22 reads $cookie_NAME (ngx_http_parse_multi_header_lines).
func TestCookie(t *testing.T) {
	c := func(lines ...string) string { return wsHead(lines...) }
	checkLookup(t, "Cookie", (*Head).Cookie, []lookupCase{
		{head: chromeUpgrade, name: "session", want: "abc123"},
		{head: chromeUpgrade, name: "_ga", want: "GA1.1.123456789.1700000000"},
		{head: chromeUpgrade, name: "theme", want: `"dark"`},          // raw, quotes kept
		{head: chromeUpgrade, name: "Session", want: "abc123"},        // case-insensitive, as nginx
		{head: chromeUpgrade, name: "sess", nilWant: true},            // a prefix of a name is not the name
		{head: socketioPoll, name: "session", nilWant: true},          // no Cookie header
		{head: c("Cookie: a=1;b=2 ;  c = 3 "), name: "c", want: "3"},  // the line's trailing space is not part of the field value
		{head: c("Cookie: a=1;b=2 ;  c = 3 "), name: "b", want: "2 "}, // the value runs to ";"
		{head: c("Cookie: a=1", "cookie: b=2"), name: "b", want: "2"}, // several Cookie lines
		{head: c("Cookie: a=1; a=2"), name: "a", want: "1"},           // first wins
		{head: c("Cookie: a=; b=2"), name: "a", want: ""},             // empty, non-nil
		{head: c("Cookie: a; b=2"), name: "a", nilWant: true},         // no "=": skipped
		{head: c("Cookie: ;; b=x=y;"), name: "b", want: "x=y"},
		{head: c("Cookie: x=1,sid=2"), name: "sid", want: "2"},      // "," separates too
		{head: c("Cookie: sid=a,b; x=1"), name: "sid", want: "a,b"}, // but does not end a value
		{head: c("Cookie: sidx=1; sid=2"), name: "sid", want: "2"},
		{head: c("Cookie: xsid=1"), name: "sid", nilWant: true},
		{head: c("Cookie: sid"), name: "sid", nilWant: true},
		{head: c("Cookie: si"), name: "sid", nilWant: true},
		{head: c("Cookie:"), name: "", nilWant: true},
		{head: c("Cookie: =1"), name: "", nilWant: true},
		{head: c("X-Cookie: a=1"), name: "a", nilWant: true},
	})
}

// TestQuery: Query reads a parameter as nginx 1.22 reads $arg_NAME (ngx_http_arg).
func TestQuery(t *testing.T) {
	q := func(target string) string { return head("GET "+target+" HTTP/1.1", "Host: a") }
	checkLookup(t, "Query", (*Head).Query, []lookupCase{
		{head: socketioPoll, name: "EIO", want: "4"},
		{head: socketioPoll, name: "transport", want: "polling"},
		{head: socketioPoll, name: "t", want: "N8hyd6w"},
		{head: socketioPoll, name: "sid", nilWant: true},
		{head: socketioPoll, name: "eio", want: "4"},           // case-insensitive, as nginx
		{head: chromeUpgrade, name: "token", want: "s3cr%2Ft"}, // not decoded
		{head: q("/a?x"), name: "x", nilWant: true},            // no "=": no match
		{head: q("/a?x&x=3"), name: "x", want: "3"},
		{head: q("/a?x=&y=2"), name: "x", want: ""}, // empty, non-nil
		{head: q("/a?x=1&x=2"), name: "x", want: "1"},
		{head: q("/a?&&y=2&"), name: "y", want: "2"},
		{head: q("/a?&&y=2&"), name: "", nilWant: true},
		{head: q("/a?y=a=b"), name: "y", want: "a=b"},
		{head: q("/a?xy=1&y=2"), name: "y", want: "2"}, // a name must start a parameter
		{head: q("/a?b=y=1"), name: "y", nilWant: true},
		{head: q("/a?y=1#y=2"), name: "y", want: "1#y=2"}, // the whole rest: nginx keeps a "#"
		{head: q("/a?"), name: "y", nilWant: true},
		{head: q("/a?y"), name: "y", nilWant: true},
		{head: q("/y=1"), name: "y", nilWant: true},
		{head: q("/a?b?y=1"), name: "b?y", want: "1"}, // only the first "?" starts the query
		{head: q("http://h/p?sid=abc"), name: "sid", want: "abc"},
	})
}

func TestHasToken(t *testing.T) {
	h := mustParse(t, head("GET / HTTP/1.1", "Host: a",
		"Connection: keep-alive, Upgrade", "Connection: ,,TE ,", "Upgrade: websocket/13, h2c", "X-Empty:"))
	for _, tc := range []struct {
		name, token string
		want        bool
	}{
		{"Connection", "upgrade", true},
		{"connection", "KEEP-ALIVE", true},
		{"Connection", "te", true}, // second line, surrounded by empty elements
		{"Connection", "close", false},
		{"Connection", "keep", false}, // whole elements only
		{"Connection", "keep-alive, Upgrade", false},
		{"Upgrade", "websocket", false}, // "websocket/13" is another element
		{"Upgrade", "websocket/13", true},
		{"Upgrade", "H2C", true},
		{"X-Empty", "", false},
		{"Missing", "x", false},
	} {
		if got := h.HasToken(tc.name, tc.token); got != tc.want {
			t.Errorf("HasToken(%q, %q) = %t, want %t", tc.name, tc.token, got, tc.want)
		}
	}
}
