package nginxconf

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// dump renders directives compactly: name[arg|arg]@line{...}.
func dump(dirs []*Directive) string {
	var b strings.Builder
	for i, d := range dirs {
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%s[%s]@%d", d.Name, strings.Join(d.Args, "|"), d.Line)
		if d.IsBlock() {
			fmt.Fprintf(&b, "{%s}", dump(d.Block))
		}
	}
	return b.String()
}

// TestParse checks the tokenizer against ngx_conf_read_token's rules.
func TestParse(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"simple", "worker_processes 1;\n", "worker_processes[1]@1"},
		{"no args", "ip_hash;", "ip_hash[]@1"},
		{"block", "events {\n  worker_connections 768;\n}\n", "events[]@1{worker_connections[768]@2}"},
		{"empty block", "events {}", "events[]@1{}"},
		{"nested", "http { server { listen 80; } }", "http[]@1{server[]@1{listen[80]@1}}"},
		{"terminators end words", "listen 80;server{listen 81;}", "listen[80]@1 server[]@1{listen[81]@1}"},
		{"comment", "# a comment { ; }\nuser www-data; # trailing\n", "user[www-data]@2"},
		{"sharp inside a word", "a b#c;", "a[b#c]@1"},
		{"double quotes", `add_header X "a b; {c}";`, "add_header[X|a b; {c}]@1"},
		{"single quotes", `map $a $b { '' close; }`, "map[$a|$b]@1{[close]@1}"},
		{"escapes in quotes", `set $x "a\"b\\c\td";`, "set[$x|a\"b\\c\td]@1"},
		{"escaped space keeps its backslash", `a b\ c;`, `a[b\ c]@1`},
		{"other backslash kept", `location ~ \.php$ {}`, `location[~|\.php$]@1{}`},
		{"variable braces", "return 200 ${host}x;", "return[200|${host}x]@1"},
		{"closing brace in a word", "return 200 a}b;", "return[200|a}b]@1"},
		{"quote then semicolon", `a "b";`, "a[b]@1"},
		{"quote then paren", `if ($a = "b") {}`, `if[($a|=|b|)]@1{}`},
		{"multi-line directive keeps its first line", "server_name\n  a\n  b;", "server_name[a|b]@1"},
		{"CRLF", "a 1;\r\nb 2;\r\n", "a[1]@1 b[2]@2"},
		{"quoted string across lines", "a \"x\ny\";\nb;", "a[x\ny]@1 b[]@3"},
		{"empty quoted", `a "" '';`, "a[|]@1"},
		{"line after block", "a {\n}\nb;", "a[]@1{} b[]@3"},
		{"empty file", "", ""},
		{"only comments", "# x\n# y", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dirs, err := Parse("t.conf", []byte(tc.in))
			if err != nil {
				t.Fatal(err)
			}
			if got := dump(dirs); got != tc.want {
				t.Fatalf("Parse(%q)\n got %s\nwant %s", tc.in, got, tc.want)
			}
		})
	}
}

// TestParseErrors checks that what nginx refuses is refused, with nginx's message and line.
func TestParseErrors(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"missing semicolon at end", "user www-data", `t.conf:1: unexpected end of file, expecting ";" or "}"`},
		{"unclosed block", "http {\n  server {\n", `t.conf:3: unexpected end of file, expecting "}"`},
		{"stray close", "a;\n}", `t.conf:2: unexpected "}"`},
		{"close with pending words", "a { b }", `t.conf:1: unexpected "}"`},
		{"lone semicolon", ";", `t.conf:1: unexpected ";"`},
		{"lone brace", "{}", `t.conf:1: unexpected "{"`},
		{"text after quote", `a "b"c;`, `t.conf:1: unexpected "c"`},
		{"brace after quote", `a "b"}`, `t.conf:1: unexpected "}"`},
		{"unterminated quote", `a "b;`, `t.conf:1: unexpected end of file, expecting ";" or "}"`},
		{"too deep", strings.Repeat("a {", maxDepth+1), "nested more than"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("t.conf", []byte(tc.in))
			var se *SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("Parse(%q) = %v, want a *SyntaxError", tc.in, err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Parse(%q) error %q, want %q", tc.in, err, tc.want)
			}
		})
	}
}

func TestDirectiveString(t *testing.T) {
	dirs, err := Parse("t.conf", []byte(`add_header X-A "a b" always;`))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := dirs[0].String(), `add_header X-A "a b" always`; got != want {
		t.Fatalf("String() = %q, want %q", got, want)
	}
}
