package nginxconf

import (
	"fmt"
	"strings"
)

// Directive is one nginx directive: its name, arguments (unquoted and unescaped like nginx
// does) and, for a block directive such as `server { ... }`, the directives inside.
type Directive struct {
	Name string
	Args []string
	// Block holds the directives between the braces; it is nil for a simple directive and
	// non-nil (possibly empty) for a block directive.
	Block []*Directive
	// File and Line locate the directive's name.
	File string
	Line int

	seq int // position in document order (after include expansion), for sorting notes
}

// IsBlock reports whether the directive has a { ... } block.
func (d *Directive) IsBlock() bool { return d.Block != nil }

// String returns the directive as it could be written in nginx.conf, without its block.
func (d *Directive) String() string {
	var b strings.Builder
	b.WriteString(d.Name)
	for _, a := range d.Args {
		b.WriteByte(' ')
		if a == "" || strings.ContainsAny(a, " \t\r\n;{}#\"'\\") {
			fmt.Fprintf(&b, "%q", a)
		} else {
			b.WriteString(a)
		}
	}
	return b.String()
}

// Parse reads one configuration file's text without following `include` directives (they
// stay in the result as ordinary directives; [Load] expands them). file names the text in
// positions and errors. The error is a *[SyntaxError].
func Parse(file string, data []byte) ([]*Directive, error) {
	lx := &lexer{file: file, data: data, line: 1}
	dirs, err := parseBlock(lx, 0)
	if err != nil {
		return nil, err
	}
	return dirs, nil
}

// maxDepth bounds block nesting; nginx has no limit, but a fuzzer-made file of a million "{"
// must not exhaust the stack.
const maxDepth = 100

// parseBlock reads directives until the "}" closing a block (depth > 0) or the end of the
// file (depth 0), like ngx_conf_parse.
func parseBlock(lx *lexer, depth int) ([]*Directive, error) {
	dirs := []*Directive{}
	for {
		words, line, ev, err := lx.next()
		if err != nil {
			return nil, err
		}
		switch ev {
		case evEOF:
			if depth > 0 {
				return nil, lx.errorf(`unexpected end of file, expecting "}"`)
			}
			return dirs, nil
		case evBlockEnd:
			if depth == 0 {
				return nil, lx.errorf(`unexpected "}"`)
			}
			return dirs, nil
		}
		d := &Directive{Name: words[0], Args: words[1:], File: lx.file, Line: line}
		if d.Args == nil {
			d.Args = []string{}
		}
		if ev == evBlockStart {
			if depth+1 > maxDepth {
				return nil, lx.errorf("blocks nested more than %d deep", maxDepth)
			}
			d.Block, err = parseBlock(lx, depth+1)
			if err != nil {
				return nil, err
			}
		}
		dirs = append(dirs, d)
	}
}
