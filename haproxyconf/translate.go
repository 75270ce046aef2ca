package haproxyconf

import (
	"errors"
	"fmt"
	"sort"
	"strings"
)

// Note is a line [Translate] did not carry over, or carried over only in part, and why.
type Note struct {
	File    string
	Line    int
	Keyword string // the line's keyword, e.g. "option"
	Why     string
}

// String formats the note as "FILE:LINE: keyword: why", as `tether import-nginx` does.
func (n Note) String() string {
	return fmt.Sprintf("%s:%d: %s: %s", oneLine(n.File), n.Line, oneLine(n.Keyword), oneLine(n.Why))
}

// Result is a translated configuration.
type Result struct {
	// TOML is the tether configuration, with comments saying where each part came from.
	TOML []byte
	// Notes lists, in file order, every line that was not carried over or only in part.
	Notes []Note
	// Listeners and Upstreams count what TOML defines.
	Listeners, Upstreams int
}

// ErrNothingToImport is returned by [Translate] when no frontend or listen section sends to a
// backend tether can carry over.
var ErrNothingToImport = errors.New("nothing to import: no frontend or listen section with a bind and a backend tether can carry over")

// proxy is one frontend, backend or listen section with the defaults section it inherits.
type proxy struct {
	sec  *Section
	defs *Section // the last defaults section above it; nil when none
}

// translator holds the state of one Translate call.
type translator struct {
	cfg       *Config
	dir       string         // relative crt paths are resolved against it
	marks     map[*Line]bool // lines carried over or noted
	notes     []Note
	backends  map[string]*proxy // backend and listen sections by name
	upstreams map[string]*upstreamOut
	upOrder   []*upstreamOut
	listeners []*listenerOut
	maxConns  int
	crtBase   string
}

// Translate maps a HAProxy configuration to a tether configuration. Every line is either
// carried over or reported in Result.Notes. dir is the directory relative certificate paths are
// resolved against (HAProxy resolves them against its working directory or crt-base).
//
// The Result is returned even with ErrNothingToImport, for its notes.
func Translate(c *Config, dir string) (*Result, error) {
	t := &translator{cfg: c, dir: dir, marks: map[*Line]bool{}, backends: map[string]*proxy{}, upstreams: map[string]*upstreamOut{}}
	var defs *Section
	var frontends []*proxy
	for _, s := range c.Sections {
		switch s.Kind() {
		case "global":
			t.use(s.Header)
			t.global(s)
		case "defaults":
			t.use(s.Header)
			defs = s
		case "frontend":
			frontends = append(frontends, &proxy{s, defs})
		case "backend":
			t.backends[s.Name()] = &proxy{s, defs}
		case "listen":
			p := &proxy{s, defs}
			t.backends[s.Name()] = p
			frontends = append(frontends, p)
		default:
			t.skipSection(s, "%s sections are not carried over: tether has no equivalent", s.Kind())
		}
	}
	for _, f := range frontends {
		t.frontend(f)
	}
	t.sweep()
	res := &Result{Notes: t.notes}
	sort.SliceStable(res.Notes, func(i, j int) bool { return res.Notes[i].Line < res.Notes[j].Line })
	if len(t.listeners) == 0 {
		return res, ErrNothingToImport
	}
	t.nameListeners()
	res.TOML = t.writeTOML()
	res.Listeners, res.Upstreams = len(t.listeners), len(t.upOrder)
	return res, nil
}

// use marks lines as carried over.
func (t *translator) use(ls ...*Line) {
	for _, l := range ls {
		t.marks[l] = true
	}
}

// note reports l (once) and marks it.
func (t *translator) note(l *Line, format string, args ...any) {
	if t.marks[l] {
		return
	}
	t.marks[l] = true
	t.notes = append(t.notes, Note{File: l.File, Line: l.Line, Keyword: l.Keyword(), Why: fmt.Sprintf(format, args...)})
}

// warn reports l even when it was carried over (in part).
func (t *translator) warn(l *Line, format string, args ...any) {
	t.marks[l] = true
	t.notes = append(t.notes, Note{File: l.File, Line: l.Line, Keyword: l.Keyword(), Why: fmt.Sprintf(format, args...)})
}

// skipSection reports a whole section on its header line.
func (t *translator) skipSection(s *Section, format string, args ...any) {
	t.note(s.Header, format, args...)
	for _, l := range s.Lines {
		t.marks[l] = true
	}
}

// sweep reports every line neither carried over nor reported yet.
func (t *translator) sweep() {
	for _, s := range t.cfg.Sections {
		for _, l := range append([]*Line{s.Header}, s.Lines...) {
			if !t.marks[l] {
				t.note(l, "%s", whyNot(s.Kind(), l))
			}
		}
	}
}

// global reads the global section: maxconn and crt-base.
func (t *translator) global(s *Section) {
	for _, l := range s.Lines {
		switch {
		case l.Keyword() == "maxconn" && len(l.Args()) == 1:
			if n, ok := atoi(l.Args()[0]); ok && n > 0 {
				t.maxConns = n
				t.use(l)
			}
		case l.Keyword() == "crt-base" && len(l.Args()) == 1:
			t.crtBase = l.Args()[0]
			t.use(l)
		}
	}
}

// lines returns the lines of p with keyword kw: its own when it has any, else its defaults'.
// With the defaults' lines, fromDefaults is true.
func (p *proxy) lines(kw string) (ls []*Line, fromDefaults bool) {
	for _, l := range p.sec.Lines {
		if l.Keyword() == kw {
			ls = append(ls, l)
		}
	}
	if len(ls) > 0 || p.defs == nil {
		return ls, false
	}
	for _, l := range p.defs.Lines {
		if l.Keyword() == kw {
			ls = append(ls, l)
		}
	}
	return ls, len(ls) > 0
}

// last returns the last line of p with keyword kw (its own, else its defaults'), or nil.
func (p *proxy) last(kw string) *Line {
	ls, _ := p.lines(kw)
	if len(ls) == 0 {
		return nil
	}
	return ls[len(ls)-1]
}

// timeout returns p's last `timeout NAME VALUE` line for name, its own or its defaults'.
func (p *proxy) timeout(name string) *Line {
	var found *Line
	for _, src := range []*Section{p.defs, p.sec} {
		if src == nil {
			continue
		}
		for _, l := range src.Lines {
			if l.Keyword() == "timeout" && len(l.Args()) >= 1 && l.Args()[0] == name {
				found = l
			}
		}
	}
	return found
}

// option returns p's last `option NAME` or `no option NAME` line for name.
func (p *proxy) option(name string) *Line {
	var found *Line
	for _, src := range []*Section{p.defs, p.sec} {
		if src == nil {
			continue
		}
		for _, l := range src.Lines {
			w := l.Words
			if w[0] == "no" {
				w = w[1:]
			}
			if len(w) >= 2 && w[0] == "option" && w[1] == name {
				found = l
			}
		}
	}
	return found
}

// mode returns "tcp" or "http" (HAProxy's default mode is tcp) and marks the line.
func (t *translator) mode(p *proxy) string {
	if l := p.last("mode"); l != nil && len(l.Args()) == 1 {
		t.use(l)
		return l.Args()[0]
	}
	return "tcp"
}

// atoi reads a non-negative decimal integer.
func atoi(s string) (int, bool) {
	if s == "" || len(s) > 9 {
		return 0, false
	}
	n := 0
	for _, c := range []byte(s) {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

// oneLine keeps a note or a TOML comment on one line of valid UTF-8 without control
// characters.
func oneLine(s string) string {
	return strings.Map(func(r rune) rune {
		if r < ' ' && r != '\t' || r == 0x7f {
			return '?'
		}
		return r
	}, strings.ToValidUTF8(s, "?"))
}

// pos is "FILE:LINE" of l.
func pos(l *Line) string { return fmt.Sprintf("%s:%d", l.File, l.Line) }
