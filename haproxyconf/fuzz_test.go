package haproxyconf

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tether-proxy/tether/conf"
)

// quoteWords writes lines back as HAProxy configuration text, every word single-quoted (a
// single quote inside a word closes, escapes and reopens the quotes).
func quoteWords(c *Config) string {
	var b strings.Builder
	for _, s := range c.Sections {
		for _, l := range append([]*Line{s.Header}, s.Lines...) {
			for i, w := range l.Words {
				if i > 0 {
					b.WriteByte(' ')
				}
				b.WriteString("'" + strings.ReplaceAll(w, "'", `'\''`) + "'")
			}
			b.WriteByte('\n')
		}
	}
	return b.String()
}

// longestLine is the length of text's longest line, without its newline.
func longestLine(text string) int {
	n := 0
	for line := range strings.Lines(text) {
		n = max(n, len(strings.TrimSuffix(line, "\n")))
	}
	return n
}

// shape is the sections' words without positions.
func shape(c *Config) string {
	var b strings.Builder
	for _, s := range c.Sections {
		for _, l := range append([]*Line{s.Header}, s.Lines...) {
			b.WriteString(strings.Join(l.Words, "\x00") + "\n")
		}
		b.WriteString("--\n")
	}
	return b.String()
}

// FuzzParse checks that Parse never panics and reports errors with a position; that what it
// accepts survives a round trip through HAProxy quoting; and that Translate never panics and
// writes TOML that tether's own parser accepts, except for certificate files that do not exist
// here. Seeds: the configurations in testdata/ and testdata/fuzz/FuzzParse.
func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "*.cfg"))
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 1<<14 {
			return
		}
		c, err := Parse("fuzz.cfg", data)
		if err != nil {
			var se *SyntaxError
			if !errors.As(err, &se) || se.Line < 1 || se.File != "fuzz.cfg" {
				t.Fatalf("error without a position: %#v", err)
			}
			return
		}
		// Quoting adds bytes: a line near maxLine may not fit quoted, and then only the parse
		// that follows is checked.
		if quoted := quoteWords(c); longestLine(quoted) <= maxLine {
			again, err := Parse("fuzz.cfg", []byte(quoted))
			if err != nil {
				t.Fatalf("re-parse of %q: %v", quoted, err)
			}
			if shape(again) != shape(c) {
				t.Fatalf("round trip changed the words:\n%q\n%q", shape(c), shape(again))
			}
		}
		res, err := Translate(c, "/etc/haproxy")
		if err != nil {
			if !errors.Is(err, ErrNothingToImport) {
				t.Fatalf("Translate: %v", err)
			}
			return
		}
		for _, n := range res.Notes {
			if n.Line < 1 || n.Why == "" {
				t.Fatalf("note without a position or reason: %+v", n)
			}
		}
		if _, err := conf.Parse("fuzz.toml", res.TOML); err != nil {
			var ps conf.Problems
			if !errors.As(err, &ps) {
				t.Fatalf("TOML does not parse: %v\n%s", err, res.TOML)
			}
			for _, p := range ps {
				if !strings.Contains(p.Msg, "cannot read") {
					t.Fatalf("tether refuses the TOML: %v\n%s", p, res.TOML)
				}
			}
		}
	})
}
