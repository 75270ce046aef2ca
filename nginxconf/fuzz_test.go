package nginxconf

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/BurntSushi/toml"
	"github.com/tether-proxy/tether/conf"
)

// format writes directives back as nginx configuration text, every word double-quoted.
func format(b *strings.Builder, dirs []*Directive) {
	for _, d := range dirs {
		for i, w := range append([]string{d.Name}, d.Args...) {
			if i > 0 {
				b.WriteByte(' ')
			}
			b.WriteByte('"')
			b.WriteString(strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(w))
			b.WriteByte('"')
		}
		if !d.IsBlock() {
			b.WriteString(";\n")
			continue
		}
		b.WriteString(" {\n")
		format(b, d.Block)
		b.WriteString("}\n")
	}
}

// shape is dump without lines, for comparing a re-parsed configuration.
func shape(dirs []*Directive) string {
	var b strings.Builder
	for _, d := range dirs {
		b.WriteString(strings.Join(append([]string{d.Name}, d.Args...), "\x00"))
		if d.IsBlock() {
			b.WriteString("{" + shape(d.Block) + "}")
		}
		b.WriteString(";")
	}
	return b.String()
}

// FuzzParse checks that Parse never panics and reports errors with a position; that what it
// accepts survives a round trip through nginx syntax; and that Translate never panics and
// writes TOML that tether's own parser accepts, except for certificate files that do not
// exist here.
func FuzzParse(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 1<<14 {
			return
		}
		dirs, err := Parse("fuzz.conf", data)
		if err != nil {
			var se *SyntaxError
			if !errors.As(err, &se) || se.Line < 1 || se.File != "fuzz.conf" {
				t.Fatalf("error without a position: %#v", err)
			}
			return
		}
		var b strings.Builder
		format(&b, dirs)
		again, err := Parse("again.conf", []byte(b.String()))
		if err != nil {
			t.Fatalf("formatted configuration does not parse: %v\n%s", err, b.String())
		}
		if shape(again) != shape(dirs) {
			t.Fatalf("round trip changed the configuration:\n%q\n%q", shape(dirs), shape(again))
		}
		res, err := Translate(fromDirectives("fuzz.conf", "/nonexistent", dirs))
		if res == nil {
			t.Fatal("Translate returned no result")
		}
		for _, n := range res.Notes {
			if n.File != "fuzz.conf" || n.Line < 1 || n.Why == "" || strings.ContainsAny(n.String(), "\r\n") {
				t.Fatalf("malformed note %q", n)
			}
		}
		if err != nil {
			if !errors.Is(err, ErrNothingToImport) || res.TOML != nil {
				t.Fatalf("Translate: %v", err)
			}
			return
		}
		var raw map[string]any
		if _, err := toml.Decode(string(res.TOML), &raw); err != nil {
			t.Fatalf("invalid TOML: %v\n%s", err, res.TOML)
		}
		_, err = conf.Parse("/nonexistent/tether.toml", res.TOML)
		var ps conf.Problems
		if err != nil && !errors.As(err, &ps) {
			t.Fatalf("conf.Parse: %v", err)
		}
		for _, p := range ps {
			if !strings.HasSuffix(p.Key, ".cert") && !strings.HasSuffix(p.Key, ".key") && !strings.HasSuffix(p.Key, ".client_ca") {
				t.Fatalf("the translation does not load: %v\nnginx:\n%s\nTOML:\n%s", p, data, res.TOML)
			}
		}
	})
}

// FuzzParseTime checks ParseTime's bounds and that a parsed time written in tether's syntax
// reads back the same.
func FuzzParseTime(f *testing.F) {
	for _, s := range []string{"60s", "1h30m", "1h 30m", "500ms", "86400", "1y", "1M", "1 2", "5s "} {
		f.Add(s, false)
		f.Add(s, true)
	}
	f.Fuzz(func(t *testing.T, s string, isSec bool) {
		d, err := ParseTime(s, isSec)
		if err != nil {
			return
		}
		limit := time.Duration(maxInt32) * time.Millisecond
		if isSec {
			limit = time.Duration(maxInt32) * time.Second
		}
		if d < 0 || d > limit {
			t.Fatalf("ParseTime(%q, %v) = %v, out of range", s, isSec, d)
		}
		if back, err := time.ParseDuration(formatDuration(d)); err != nil || back != d {
			t.Fatalf("formatDuration(%v) = %q reads back as %v, %v", d, formatDuration(d), back, err)
		}
	})
}
