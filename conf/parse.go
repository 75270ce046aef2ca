package conf

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
)

// Keys each table accepts, in documentation order.
var (
	topKeys      = []string{"drain_timeout", "drain_spread", "max_conns", "max_handshakes", "fd_reserve", "max_memory", "engine", "admin", "timeouts", "listeners", "upstreams"}
	timeoutKeys  = []string{"handshake", "preamble", "connect", "idle", "half_close", "response", "close_grace"}
	listenerKeys = []string{"name", "listen", "upstream", "preamble", "max_preamble", "ipv6only", "reuseport", "max_conns", "max_conns_per_client", "proxy_protocol_in", "hash_key", "forwarded_headers", "tls", "timeouts"}
	tlsKeys      = []string{"cert", "key", "certs", "client_ca", "client_auth", "session_ticket_key", "curves"}
	upstreamKeys = []string{"balance", "balance_factor", "servers", "proxy_protocol"}
)

// defaultDrainTimeout is drain_timeout when the file does not set it.
const defaultDrainTimeout = 30 * time.Second

// Load reads the configuration file at path and parses it with [Parse].
// Relative cert/key paths are resolved against path's directory.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, Problems{{File: path, Msg: oneLine("cannot read configuration: " + pathErrReason(err)), err: err}}
	}
	return Parse(path, data)
}

// Parse parses and validates a configuration. file names the
// configuration in problems and is the base for relative cert/key paths
// (Config.File is set to it). Parse does not resolve host names; its only
// side effects are checking that cert and key files exist and are readable,
// reading session ticket key files to check their size, and checking that
// upstream source addresses can be bound.
//
// On any problem Parse returns a nil Config and a [Problems] error listing
// every problem found, in file order. A TOML syntax error stops parsing,
// so it is reported alone.
func Parse(file string, data []byte) (*Config, error) {
	var raw map[string]any
	if _, err := toml.Decode(string(data), &raw); err != nil {
		return nil, Problems{syntaxProblem(file, err)}
	}
	p := &parser{file: file, dir: filepath.Dir(file), lines: indexLines(data)}
	cfg := p.config(raw)
	if len(p.probs) > 0 {
		sort.SliceStable(p.probs, func(i, j int) bool {
			return lineOrder(p.probs[i].Line) < lineOrder(p.probs[j].Line)
		})
		return nil, p.probs
	}
	return cfg, nil
}

// lineOrder sorts document-level problems (line 0) last.
func lineOrder(line int) int {
	if line == 0 {
		return int(^uint(0) >> 1)
	}
	return line
}

func syntaxProblem(file string, err error) Problem {
	var pe toml.ParseError
	if !errors.As(err, &pe) {
		return Problem{File: file, Msg: oneLine("TOML: " + err.Error()), err: err}
	}
	msg := "TOML syntax error: " + pe.Message
	if pe.Position.Col > 0 {
		msg = fmt.Sprintf("TOML syntax error at column %d: %s", pe.Position.Col, pe.Message)
	}
	return Problem{File: file, Line: pe.Position.Line, Msg: oneLine(msg), err: err}
}

// parser walks the decoded document against tether's schema, collecting
// every problem instead of stopping at the first.
type parser struct {
	file  string
	dir   string // base for relative paths
	lines lineIndex
	probs Problems
}

func (p *parser) errorf(at keyPath, format string, args ...any) {
	p.add(at, nil, fmt.Sprintf(format, args...))
}

func (p *parser) add(at keyPath, err error, msg string) {
	p.probs = append(p.probs, Problem{File: p.file, Line: p.lines.line(at), Key: at.String(), Msg: oneLine(msg), err: err})
}

// oneLine escapes control characters (other than tab) so that every
// problem stays on one line.
func oneLine(s string) string {
	if !strings.ContainsFunc(s, isControl) {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case isControl(r):
			fmt.Fprintf(&b, `\x%02x`, r)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

func isControl(r rune) bool { return r < 0x20 && r != '\t' || r == 0x7f }

func (p *parser) config(raw map[string]any) *Config {
	cfg := &Config{File: p.file, DrainTimeout: defaultDrainTimeout, DrainSpread: defaultDrainSpread,
		MaxHandshakes: defaultMaxHandshakes, FDReserve: defaultFDReserve, Upstreams: map[string]*Upstream{}}
	var root keyPath
	p.checkKeys(root, raw, topKeys, "at the top level")

	if v, ok := raw["drain_timeout"]; ok {
		if d, ok := p.duration(root.key("drain_timeout"), v, true, ""); ok {
			cfg.DrainTimeout = d
		}
	}
	p.limits(root, raw, cfg)
	if v, ok := raw["admin"]; ok {
		if m, ok := p.table(root.key("admin"), v, "[admin]"); ok {
			cfg.Admin = p.admin(root.key("admin"), m)
		}
	}
	global := timeoutLayer{t: DefaultTimeouts()}
	if v, ok := raw["timeouts"]; ok {
		at := root.key("timeouts")
		if m, ok := p.table(at, v, "[timeouts]"); ok {
			global = p.timeouts(at, m, global)
		}
	}
	if v, ok := raw["upstreams"]; ok {
		p.upstreams(root.key("upstreams"), v, cfg)
	}
	if v, ok := raw["listeners"]; ok {
		p.listeners(root.key("listeners"), v, cfg, global)
	} else {
		p.errorf(root.key("listeners"), "no listeners defined (add a [[listeners]] table)")
	}
	p.crossCheck(root.key("listeners"), cfg)
	return cfg
}

// checkKeys reports every key of m not in known, with a "did you mean"
// suggestion when one is close.
func (p *parser) checkKeys(at keyPath, m map[string]any, known []string, where string) {
	for _, k := range sortedKeys(m) {
		if slices.Contains(known, k) {
			continue
		}
		if s := suggest(k, known); s != "" {
			p.errorf(at.key(k), "unknown key (did you mean %q?)", s)
			continue
		}
		p.errorf(at.key(k), "unknown key %s (valid: %s)", where, strings.Join(known, ", "))
	}
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// describe names the TOML type of a decoded value, with the value for
// scalars.
func describe(v any) string {
	switch v := v.(type) {
	case string:
		return fmt.Sprintf("string %q", v)
	case int64:
		return fmt.Sprintf("integer %d", v)
	case float64:
		return fmt.Sprintf("float %v", v)
	case bool:
		return fmt.Sprintf("boolean %t", v)
	case time.Time:
		return "date-time " + v.String()
	case map[string]any:
		return "a table"
	case []map[string]any:
		return "an array of tables"
	case []any:
		return "an array"
	}
	return fmt.Sprintf("%T", v)
}

func (p *parser) table(at keyPath, v any, what string) (map[string]any, bool) {
	m, ok := v.(map[string]any)
	if !ok {
		p.errorf(at, "expected a table (%s), got %s", what, describe(v))
	}
	return m, ok
}

func (p *parser) str(at keyPath, v any) (string, bool) {
	s, ok := v.(string)
	if !ok {
		p.errorf(at, "expected a string, got %s", describe(v))
	}
	return s, ok
}

// requiredString returns m[key], reporting it when missing, not a string
// or blank.
func (p *parser) requiredString(at keyPath, m map[string]any, key string) (string, bool) {
	v, ok := m[key]
	if !ok {
		p.errorf(at, "missing required key %q", key)
		return "", false
	}
	s, ok := p.str(at.key(key), v)
	if !ok {
		return "", false
	}
	if strings.TrimSpace(s) == "" {
		p.errorf(at.key(key), "must not be empty")
		return "", false
	}
	return s, true
}

// enum checks that v is one of valid.
func (p *parser) enum(at keyPath, v any, valid ...string) (string, bool) {
	s, ok := p.str(at, v)
	if !ok {
		return "", false
	}
	if slices.Contains(valid, s) {
		return s, true
	}
	quoted := make([]string, len(valid))
	for i, v := range valid {
		quoted[i] = fmt.Sprintf("%q", v)
		if v == "" {
			quoted[i] = `"" (off)`
		}
	}
	msg := fmt.Sprintf("unknown value %q", s)
	if sug := suggest(s, valid); sug != "" {
		msg += fmt.Sprintf(" (did you mean %q?)", sug)
	}
	p.errorf(at, "%s; valid: %s", msg, strings.Join(quoted, ", "))
	return "", false
}

// duration parses a Go duration string. Zero is rejected unless allowZero;
// zeroHint is appended to that message.
func (p *parser) duration(at keyPath, v any, allowZero bool, zeroHint string) (time.Duration, bool) {
	s, ok := v.(string)
	if !ok {
		p.errorf(at, `expected a duration string such as "30s", got %s`, describe(v))
		return 0, false
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		hint := `want a Go duration: numbers with units ns, us, ms, s, m, h, e.g. "30s", "1m30s", "2h"`
		if nd, nerr := ParseNginxTime(s, false); nerr == nil {
			hint += fmt.Sprintf("; for nginx-style %q write %q", s, nd.String())
		}
		p.errorf(at, "invalid duration %q (%s)", s, hint)
		return 0, false
	}
	switch {
	case d < 0:
		p.errorf(at, "duration %q must not be negative", s)
		return 0, false
	case d == 0 && !allowZero:
		p.errorf(at, "duration %q must be greater than 0%s", s, zeroHint)
		return 0, false
	}
	return d, true
}

// timeoutLayer is a resolved set of timeouts and whether half_close was
// set explicitly (otherwise it follows idle).
type timeoutLayer struct {
	t            Timeouts
	halfCloseSet bool
}

// timeouts applies a [timeouts] or [listeners.timeouts] table on top of
// base.
func (p *parser) timeouts(at keyPath, m map[string]any, base timeoutLayer) timeoutLayer {
	p.checkKeys(at, m, timeoutKeys, "in timeouts")
	out := base
	fields := map[string]*time.Duration{
		"handshake":   &out.t.Handshake,
		"preamble":    &out.t.Preamble,
		"connect":     &out.t.Connect,
		"idle":        &out.t.Idle,
		"half_close":  &out.t.HalfClose,
		"response":    &out.t.Response,
		"close_grace": &out.t.CloseGrace,
	}
	for _, k := range timeoutKeys {
		v, ok := m[k]
		if !ok {
			continue
		}
		if k == "half_close" {
			out.halfCloseSet = true
		}
		hint := ""
		if k == "idle" {
			hint = ` (to effectively disable the idle timeout use a long value such as "24h")`
		}
		if d, ok := p.duration(at.key(k), v, k == "response" || k == "close_grace", hint); ok {
			*fields[k] = d
		}
	}
	if !out.halfCloseSet {
		out.t.HalfClose = out.t.Idle
	}
	return out
}

// resolveFile resolves a cert/key path against the configuration's
// directory and checks that it is a readable regular file.
func (p *parser) resolveFile(at keyPath, path, what string) string {
	resolved := path
	if !filepath.IsAbs(resolved) {
		resolved = filepath.Join(p.dir, resolved)
	}
	if abs, err := filepath.Abs(resolved); err == nil {
		resolved = abs
	}
	where := fmt.Sprintf("%s %q", what, path)
	if resolved != path {
		where += fmt.Sprintf(" (resolved to %q)", resolved)
	}
	// Stat first: opening a FIFO would block.
	fi, err := os.Stat(resolved)
	if err != nil {
		p.add(at, err, fmt.Sprintf("cannot read %s: %s", where, pathErrReason(err)))
		return resolved
	}
	if !fi.Mode().IsRegular() {
		p.errorf(at, "cannot read %s: not a regular file", where)
		return resolved
	}
	f, err := os.Open(resolved)
	if err != nil {
		p.add(at, err, fmt.Sprintf("cannot read %s: %s", where, pathErrReason(err)))
		return resolved
	}
	f.Close()
	return resolved
}

// pathErrReason returns the reason of a *fs.PathError without repeating
// the path.
func pathErrReason(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}
