package nginxconf

import (
	"errors"
	"fmt"
	"sort"
	"strings"
)

// Note is a directive [Translate] did not carry over, or carried over only in part, and why.
type Note struct {
	File      string
	Line      int
	Directive string // the directive's name, e.g. "add_header"
	Why       string

	seq int
}

// String formats the note as "FILE:LINE: directive: why".
func (n Note) String() string {
	return fmt.Sprintf("%s:%d: %s: %s", oneLine(n.File), n.Line, oneLine(n.Directive), oneLine(n.Why))
}

// Result is a translated configuration.
type Result struct {
	// TOML is the tether configuration, with comments saying where each part came from.
	TOML []byte
	// Notes lists, in document order, every directive that was not carried over or only
	// in part.
	Notes []Note
	// Listeners and Upstreams count what TOML defines.
	Listeners, Upstreams int
}

// ErrNothingToImport is returned by [Translate] when no server block proxies anywhere.
var ErrNothingToImport = errors.New("nothing to import: no stream or http server block with a proxy_pass tether can carry over")

// Translate maps an nginx configuration to a tether configuration. Every directive is either
// carried over or reported in Result.Notes: upstreams (in `stream {}` and `http {}`) become
// [upstreams.NAME] tables with their server lines copied verbatim (tether's hash ring
// depends on the names and their order), and every server block's listen directives become
// [[listeners]] sending to the upstream its proxy_pass names. Certificate paths are made
// absolute against c.Prefix, since the TOML may be written anywhere.
//
// The Result is returned even with ErrNothingToImport, for its notes.
func Translate(c *Config) (*Result, error) {
	t := &translator{
		cfg:   c,
		marks: map[*Directive]bool{},
		ups:   map[string]map[string]*upstreamDef{"stream": {}, "http": {}},
	}
	main := &scope{dirs: c.Directives}
	for _, d := range c.Directives {
		switch d.Name {
		case "stream", "http":
			if d.IsBlock() {
				t.use(d)
				t.context(&scope{dirs: d.Block, parent: main, ctx: d.Name}, d.Name)
			}
		case "worker_shutdown_timeout":
			t.drainTimeout(d)
		}
	}
	t.sweep(c.Directives, "")
	res := &Result{Notes: t.notes}
	sort.SliceStable(res.Notes, func(i, j int) bool { return res.Notes[i].seq < res.Notes[j].seq })
	if len(t.listeners) == 0 {
		return res, ErrNothingToImport
	}
	ups := t.assignNames()
	t.nameListeners()
	res.TOML = t.writeTOML(ups)
	res.Listeners, res.Upstreams = len(t.listeners), len(ups)
	return res, nil
}

// translator holds the state of one Translate call.
type translator struct {
	cfg       *Config
	marks     map[*Directive]bool                // carried over, or already noted
	notes     []Note                             // what was not carried over, in any order
	ups       map[string]map[string]*upstreamDef // context -> lower-case name -> upstream
	defs      []*upstreamDef                     // every upstream, in declaration order
	listeners []*listenerOut
	drain     string // drain_timeout, from worker_shutdown_timeout
}

// scope is one level of nginx's configuration inheritance: main, stream/http, server,
// location.
type scope struct {
	dirs   []*Directive
	parent *scope
	ctx    string // "stream" or "http"
}

// nearest returns the directives named name at the innermost level that has any, like nginx
// merging a setting from the enclosing level when a level does not set it.
func (s *scope) nearest(name string) []*Directive {
	for ; s != nil; s = s.parent {
		var found []*Directive
		for _, d := range s.dirs {
			if d.Name == name {
				found = append(found, d)
			}
		}
		if len(found) > 0 {
			return found
		}
	}
	return nil
}

// own returns the directives named name at this level only.
func (s *scope) own(name string) []*Directive {
	var found []*Directive
	for _, d := range s.dirs {
		if d.Name == name {
			found = append(found, d)
		}
	}
	return found
}

// use marks d as carried over.
func (t *translator) use(ds ...*Directive) {
	for _, d := range ds {
		t.marks[d] = true
	}
}

// note reports why d is not (or only in part) carried over, and marks it.
func (t *translator) note(d *Directive, format string, args ...any) {
	t.marks[d] = true
	t.notes = append(t.notes, Note{File: d.File, Line: d.Line, Directive: d.Name, Why: fmt.Sprintf(format, args...), seq: d.seq})
}

// skip reports a whole block once and marks everything inside it.
func (t *translator) skip(d *Directive, format string, args ...any) {
	t.note(d, format, args...)
	t.markAll(d.Block)
}

func (t *translator) markAll(dirs []*Directive) {
	for _, d := range dirs {
		t.marks[d] = true
		t.markAll(d.Block)
	}
}

// sweep reports every directive nothing marked, with the reason known for it.
func (t *translator) sweep(dirs []*Directive, parent string) {
	for _, d := range dirs {
		if !t.marks[d] {
			why, block := unsupported(d, parent)
			t.note(d, "%s", why)
			if block {
				t.markAll(d.Block)
				continue
			}
		}
		t.sweep(d.Block, d.Name)
	}
}

// context translates the contents of a stream {} or http {} block: upstreams first (a
// proxy_pass may name one defined further down), then the server blocks.
func (t *translator) context(s *scope, ctx string) {
	for _, d := range s.dirs {
		if d.Name == "upstream" && d.IsBlock() {
			t.upstream(d, ctx)
		}
	}
	for _, d := range s.dirs {
		if d.Name != "server" || !d.IsBlock() {
			continue
		}
		srv := &scope{dirs: d.Block, parent: s, ctx: ctx}
		if ctx == "stream" {
			t.streamServer(srv, d)
		} else {
			t.httpServer(srv, d)
		}
	}
}

// drainTimeout carries worker_shutdown_timeout over as drain_timeout.
func (t *translator) drainTimeout(d *Directive) {
	if len(d.Args) != 1 {
		t.note(d, "expected one time argument; not carried over")
		return
	}
	dur, err := ParseTime(d.Args[0], false)
	if err != nil || dur <= 0 {
		t.note(d, "%v; not carried over", errOr(err, "must be greater than 0"))
		return
	}
	t.use(d)
	t.drain = formatDuration(dur)
}

func errOr(err error, msg string) string {
	if err != nil {
		return err.Error()
	}
	return msg
}

// pos formats a directive's position for comments and notes.
func pos(d *Directive) string { return fmt.Sprintf("%s:%d", d.File, d.Line) }

// oneLine escapes control characters so that a note or comment stays on one line.
func oneLine(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return '?'
		}
		return r
	}, strings.ToValidUTF8(s, "?"))
}
