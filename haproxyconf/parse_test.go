package haproxyconf

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

// TestSplitLine pins HAProxy's word splitting: blanks, comments, both quotes and escapes.
func TestSplitLine(t *testing.T) {
	tests := []struct {
		in   string
		want []string
		err  string
	}{
		{"  server a 10.0.0.1:80   weight 2", []string{"server", "a", "10.0.0.1:80", "weight", "2"}, ""},
		{"bind :80 # the public port", []string{"bind", ":80"}, ""},
		{"bind :80# glued comment", []string{"bind", ":80"}, ""},
		{`acl a hdr(x) -m str "two words" 'single $x' a\ b`, []string{"acl", "a", "hdr(x)", "-m", "str", "two words", "single $x", "a b"}, ""},
		{`log "a\"b"`, []string{"log", `a"b`}, ""},
		{"\tmode\ttcp\r", []string{"mode", "tcp"}, ""},
		{"# only a comment", nil, ""},
		{`server a "10.0.0.1:80`, nil, "unmatched quote"},
		{"a\x00b", nil, "NUL"},
	}
	for _, tc := range tests {
		got, err := splitLine(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%q: error %v, want %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("%q: got %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

// TestParseErrors pins the syntax errors, each with its file and line.
func TestParseErrors(t *testing.T) {
	tests := []struct{ in, want string }{
		{"mode tcp\n", "h.cfg:1: unknown keyword 'mode' out of section"},
		{"global\n\nfrontend\n", "h.cfg:3: 'frontend' expects <name> as an argument"},
		{"backend a/b\n", "h.cfg:1: character '/' is not permitted in backend name 'a/b'"},
		{"defaults\n  timeout client \"5s\n", "h.cfg:2: unmatched quote"},
		{"global\n" + strings.Repeat("x", 3000) + "\n", "h.cfg:2: line too long"},
	}
	for _, tc := range tests {
		_, err := Parse("h.cfg", []byte(tc.in))
		var se *SyntaxError
		if !errors.As(err, &se) || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want %q", tc.in, err, tc.want)
		}
	}
}

// TestParseSections pins sections, their names and lines with positions.
func TestParseSections(t *testing.T) {
	c, err := Parse("h.cfg", []byte("global\n  maxconn 10\n\ndefaults\nfrontend fe\n  bind :80\nbackend be\n  server a 1.2.3.4:5\n"))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, s := range c.Sections {
		got = append(got, s.Kind()+":"+s.Name())
		for _, l := range s.Lines {
			got = append(got, pos(l)+" "+l.String())
		}
	}
	want := []string{"global:", "h.cfg:2 maxconn 10", "defaults:", "frontend:fe", "h.cfg:6 bind :80", "backend:be", "h.cfg:8 server a 1.2.3.4:5"}
	if !slices.Equal(got, want) {
		t.Errorf("got %q\nwant %q", got, want)
	}
}
