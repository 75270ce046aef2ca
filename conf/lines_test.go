package conf

import (
	"testing"

	"github.com/BurntSushi/toml"
)

func TestIndexLines(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want map[string]int // a subset of the index
		none []string       // paths that must not be indexed
	}{
		{
			name: "tables, arrays of tables and their indices",
			in: `top = 1
[a]
x = 1
[[a.list]]
y = 1
[[a.list]]
y = 2
  [a.list.sub]
  z = 3
[[b]]
[[b.c]]
[[b]]
[[b.c]]
[[b.c]]
w = 1
`,
			want: map[string]int{
				"top": 1, "a": 2, "a.x": 3, "a.list": 4, "a.list[0]": 4, "a.list[0].y": 5,
				"a.list[1]": 6, "a.list[1].y": 7, "a.list[1].sub": 8, "a.list[1].sub.z": 9,
				"b[0]": 10, "b[0].c[0]": 11, "b[1]": 12, "b[1].c[0]": 13, "b[1].c[1]": 14, "b[1].c[1].w": 15,
			},
			none: []string{"a.list[2]", "b[1].c[2]", "a.list[0].sub"},
		},
		{
			name: "dotted keys define their super-tables",
			in: `[t]
a.b.c = 1
"quoted.key".d = 2
'lit'.e = 3
  x . y = 4
`,
			want: map[string]int{"t.a": 2, "t.a.b": 2, "t.a.b.c": 2, `t."quoted.key"`: 3, `t."quoted.key".d`: 3, "t.lit.e": 4, "t.x.y": 5},
		},
		{
			name: "inline tables and multi-line arrays",
			in: `a = { b = 1, c = { d = [1, 2] } }
arr = [
  "x",  # comment with [brackets] and "quotes"
  { k = 1 },
  [ 5,
    6 ],
]
`,
			want: map[string]int{"a.b": 1, "a.c.d": 1, "a.c.d[1]": 1, "arr[0]": 3, "arr[1]": 4, "arr[1].k": 4, "arr[2]": 5, "arr[2][1]": 6},
			none: []string{"arr[3]"},
		},
		{
			name: "strings that look like TOML are skipped",
			in: `s1 = "[not.a.header] \" x = 1"
s2 = """
[fake]
y = 2 \"""
"""
s3 = '''
[[fake2]]
'''
s4 = 'a # b'
s5 = """ends with quotes"""""
real = 1 # [comment]
`,
			want: map[string]int{"s1": 1, "s2": 2, "s3": 6, "s4": 9, "s5": 10, "real": 11},
			none: []string{"fake", "fake2", "y", "fake.y"},
		},
		{
			name: "quoted keys with escapes, CRLF, date-times",
			in:   "[\"my\\u0020app\"]\r\nd = 1979-05-27 07:32:00Z\r\nx = [1979-05-27 07:32:00, 1]\r\n'k' = 2\r\n",
			want: map[string]int{`"my app"`: 1, `"my app".d`: 2, `"my app".x[0]`: 3, `"my app".x[1]`: 3, `"my app".k`: 4},
			none: []string{`"my app".x[2]`},
		},
		{
			name: "TOML 1.1 multi-line inline tables",
			in:   "a = {\n  b = 1, # comment\n  c = [\n    1],\n}\nd = 2\n",
			want: map[string]int{"a": 1, "a.b": 2, "a.c": 3, "a.c[0]": 4, "d": 6},
		},
		{
			name: "super-table defined after its sub-table",
			in:   "[x.y]\na = 1\n[x]\nb = 2\n",
			want: map[string]int{"x": 3, "x.y": 1, "x.b": 4},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var m map[string]any
			if err := tomlCheck(tc.in, &m); err != nil {
				t.Fatalf("test document is not valid TOML: %v", err)
			}
			idx := indexLines([]byte(tc.in))
			for k, want := range tc.want {
				if got, ok := idx[k]; !ok || got != want {
					t.Errorf("%s: line %d (found %t), want %d", k, got, ok, want)
				}
			}
			for _, k := range tc.none {
				if l, ok := idx[k]; ok {
					t.Errorf("%s: indexed at line %d, want absent", k, l)
				}
			}
			if t.Failed() {
				t.Logf("index: %v", idx)
			}
		})
	}
}

func TestLineIndexFallback(t *testing.T) {
	idx := lineIndex{"a": 3, "a.b": 5}
	for _, tc := range []struct {
		p    keyPath
		want int
	}{
		{keyPath{}.key("a").key("b").key("c"), 5},
		{keyPath{}.key("a").key("x").index(2), 3},
		{keyPath{}.key("zzz"), 0},
		{nil, 0},
	} {
		if got := idx.line(tc.p); got != tc.want {
			t.Errorf("line(%s) = %d, want %d", tc.p, got, tc.want)
		}
	}
}

func tomlCheck(s string, v any) error {
	_, err := toml.Decode(s, v)
	return err
}
