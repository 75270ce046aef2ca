package conf

import (
	"fmt"
	"runtime"
	"sort"
	"strings"

	"github.com/BurntSushi/toml"

	"github.com/tether-proxy/tether/balance"
	"github.com/tether-proxy/tether/tlsterm"
)

// Listener defaults and limits.
const (
	defaultMaxPreamble = 32768
	minMaxPreamble     = 1024
	maxMaxPreamble     = 1 << 20
)

// listeners decodes the [[listeners]] array.
func (p *parser) listeners(at keyPath, v any, cfg *Config, global timeoutLayer) {
	var elems []any
	switch v := v.(type) {
	case []map[string]any:
		for _, m := range v {
			elems = append(elems, m)
		}
	case []any:
		elems = v
	case map[string]any:
		p.errorf(at, "expected an array of tables, got a table: write [[listeners]] with double brackets")
		return
	default:
		p.errorf(at, "expected an array of tables ([[listeners]]), got %s", describe(v))
		return
	}
	if len(elems) == 0 {
		p.errorf(at, "no listeners defined (add a [[listeners]] table)")
	}
	for i, e := range elems {
		m, ok := e.(map[string]any)
		if !ok {
			p.errorf(at.index(i), "expected a table (a [[listeners]] entry), got %s", describe(e))
			continue
		}
		cfg.Listeners = append(cfg.Listeners, p.listener(at.index(i), m, global))
	}
}

// listener decodes one [[listeners]] entry. It always returns a Listener
// (partially filled when there are problems) so that cross checks can
// still run.
func (p *parser) listener(at keyPath, m map[string]any, global timeoutLayer) *Listener {
	l := &Listener{
		IPv6Only:    true,
		Preamble:    PreambleHTTP,
		MaxPreamble: defaultMaxPreamble,
		Timeouts:    global.t,
		Line:        p.lines.line(at),
	}
	p.checkKeys(at, m, listenerKeys, "in [[listeners]]")
	l.Name, _ = p.requiredString(at, m, "name")
	if s, ok := p.requiredString(at, m, "listen"); ok {
		l.Listen = s
		addr, err := parseListenAddr(s)
		if err != nil {
			p.errorf(at.key("listen"), "invalid address %q: %v", s, err)
		}
		l.Addr = addr
	}
	l.Upstream, _ = p.requiredString(at, m, "upstream")
	if v, ok := m["preamble"]; ok {
		if s, ok := p.enum(at.key("preamble"), v, string(PreambleHTTP), string(PreambleWebSocket), string(PreambleNone)); ok {
			l.Preamble = PreambleMode(s)
		}
	}
	if v, ok := m["max_preamble"]; ok {
		n, ok := v.(int64)
		switch {
		case !ok:
			p.errorf(at.key("max_preamble"), "expected an integer (bytes), got %s", describe(v))
		case n < minMaxPreamble || n > maxMaxPreamble:
			p.errorf(at.key("max_preamble"), "%d out of range %d-%d", n, minMaxPreamble, maxMaxPreamble)
		default:
			l.MaxPreamble = int(n)
		}
	}
	if v, ok := m["ipv6only"]; ok {
		if b, ok := v.(bool); ok {
			l.IPv6Only = b
			if !b && !socketOptionsSupported {
				p.errorf(at.key("ipv6only"), "ipv6only = false needs Linux; on %s the platform's default applies", runtime.GOOS)
			}
		} else {
			p.errorf(at.key("ipv6only"), "expected a boolean, got %s", describe(v))
		}
	}
	if v, ok := m["reuseport"]; ok {
		if b, ok := v.(bool); ok {
			l.ReusePort = b
			if b && !socketOptionsSupported {
				p.errorf(at.key("reuseport"), "reuseport = true needs Linux (SO_REUSEPORT load balancing); not available on %s", runtime.GOOS)
			}
		} else {
			p.errorf(at.key("reuseport"), "expected a boolean, got %s", describe(v))
		}
	}
	if v, ok := m["max_conns"]; ok {
		l.MaxConns, _ = p.count(at.key("max_conns"), v, 0)
	}
	if v, ok := m["max_conns_per_client"]; ok {
		l.MaxConnsPerClient, _ = p.count(at.key("max_conns_per_client"), v, 0)
	}
	if v, ok := m["proxy_protocol_in"]; ok {
		if tm, ok := p.table(at.key("proxy_protocol_in"), v, "proxy_protocol_in = { trusted = [...] }"); ok {
			l.ProxyIn = p.proxyIn(at.key("proxy_protocol_in"), tm)
		}
	}
	if v, ok := m["hash_key"]; ok {
		if s, ok := p.str(at.key("hash_key"), v); ok {
			k, err := ParseHashKey(s)
			switch {
			case err != nil:
				p.errorf(at.key("hash_key"), "invalid hash key %q: %v", s, err)
			case k.Kind != KeyRemoteAddr && l.Preamble == PreambleNone:
				p.errorf(at.key("hash_key"), "%q is read from the request head, but preamble = \"none\" reads none", s)
			default:
				l.HashKey = k
			}
		}
	}
	if v, ok := m["forwarded_headers"]; ok {
		if tm, ok := p.table(at.key("forwarded_headers"), v, "forwarded_headers = { trusted = [...] }"); ok {
			l.Forwarded = p.forwarded(at.key("forwarded_headers"), tm)
			if l.Preamble == PreambleNone {
				p.errorf(at.key("forwarded_headers"), "headers go into the request head, but preamble = \"none\" reads none")
			}
		}
	}
	if v, ok := m["tls"]; ok {
		if tm, ok := p.table(at.key("tls"), v, "[listeners.tls]"); ok {
			l.TLS = p.tls(at.key("tls"), tm)
		}
	}
	if v, ok := m["timeouts"]; ok {
		if tm, ok := p.table(at.key("timeouts"), v, "[listeners.timeouts]"); ok {
			l.Timeouts = p.timeouts(at.key("timeouts"), tm, global).t
			if _, ok := tm["response"]; ok && l.Preamble == PreambleNone && l.Timeouts.Response > 0 {
				p.errorf(at.key("timeouts").key("response"), "the answer to a request head is awaited, but preamble = \"none\" reads none")
			}
		}
	}
	return l
}

func (p *parser) tls(at keyPath, m map[string]any) *TLS {
	p.checkKeys(at, m, tlsKeys, "in [listeners.tls]")
	t := &TLS{}
	_, hasCert := m["cert"]
	_, hasKey := m["key"]
	_, hasCerts := m["certs"]
	if hasCert || hasKey || !hasCerts {
		if ck, ok := p.certKey(at, m); ok {
			t.Certs = append(t.Certs, ck)
		}
	}
	if v, ok := m["certs"]; ok {
		list, isList := v.([]any)
		if lm, ok := v.([]map[string]any); ok {
			for _, e := range lm {
				list = append(list, e)
			}
			isList = true
		}
		if !isList {
			p.errorf(at.key("certs"), "expected an array of tables ([[listeners.tls.certs]] or [{cert = ..., key = ...}]), got %s", describe(v))
		}
		for i, e := range list {
			cm, ok := p.table(at.key("certs").index(i), e, "{cert = ..., key = ...}")
			if !ok {
				continue
			}
			p.checkKeys(at.key("certs").index(i), cm, certKeys, "in a certs entry")
			if ck, ok := p.certKey(at.key("certs").index(i), cm); ok {
				t.Certs = append(t.Certs, ck)
			}
		}
	}
	if v, ok := m["client_ca"]; ok {
		if s, ok := p.str(at.key("client_ca"), v); ok {
			t.ClientCA = p.resolveFile(at.key("client_ca"), s, "client CA bundle")
			t.ClientAuth = ClientAuthRequire
		}
	}
	if v, ok := m["client_auth"]; ok {
		if s, ok := p.enum(at.key("client_auth"), v, string(ClientAuthRequire), string(ClientAuthOptional)); ok {
			if t.ClientCA == "" {
				p.errorf(at.key("client_auth"), "needs client_ca (the CAs that sign client certificates)")
			}
			t.ClientAuth = ClientAuth(s)
		}
	}
	if v, ok := m["session_ticket_key"]; ok {
		t.TicketKeys = p.ticketKeys(at.key("session_ticket_key"), v)
	}
	if v, ok := m["curves"]; ok {
		t.Curves = p.curves(at.key("curves"), v)
	}
	return t
}

// curves decodes curves: a non-empty array of key-exchange group names, each once.
func (p *parser) curves(at keyPath, v any) []string {
	list, ok := v.([]any)
	if !ok {
		p.errorf(at, `expected an array of key exchange groups (curves = ["X25519MLKEM768", "X25519", "P-256"]), got %s`, describe(v))
		return nil
	}
	if len(list) == 0 {
		p.errorf(at, "must name at least one key exchange group")
		return nil
	}
	var names []string
	seen := map[string]int{}
	for i, e := range list {
		s, ok := p.str(at.index(i), e)
		if !ok {
			continue
		}
		name, err := tlsterm.GroupName(s)
		if err != nil {
			p.errorf(at.index(i), "%v", err)
			continue
		}
		if j, dup := seen[name]; dup {
			p.errorf(at.index(i), "duplicate group %q (also curves[%d])", s, j)
			continue
		}
		seen[name] = i
		names = append(names, name)
	}
	return names
}

// ticketKeys decodes session_ticket_key: an array of key files, each of a
// size nginx's ssl_session_ticket_key accepts.
func (p *parser) ticketKeys(at keyPath, v any) []string {
	list, ok := v.([]any)
	if !ok {
		p.errorf(at, `expected an array of key files (session_ticket_key = ["ticket.key"]), got %s`, describe(v))
		return nil
	}
	if len(list) == 0 {
		p.errorf(at, "must name at least one key file (leave the key out for per-process keys)")
	}
	var out []string
	seen := map[string]int{}
	for i, e := range list {
		s, ok := p.str(at.index(i), e)
		if !ok {
			continue
		}
		before := len(p.probs)
		path := p.resolveFile(at.index(i), s, "session ticket key")
		readable := len(p.probs) == before
		if j, dup := seen[path]; dup {
			p.errorf(at.index(i), "duplicate key file %q (also session_ticket_key[%d])", s, j)
			continue
		}
		seen[path] = i
		if _, err := tlsterm.ReadTicketKeys([]string{path}); err != nil && readable {
			p.add(at.index(i), err, strings.TrimPrefix(err.Error(), "tls: "))
		}
		out = append(out, path)
	}
	return out
}

// certKey decodes the cert and key of one certificate.
func (p *parser) certKey(at keyPath, m map[string]any) (CertKey, bool) {
	var ck CertKey
	cert, okC := p.requiredString(at, m, "cert")
	key, okK := p.requiredString(at, m, "key")
	if okC {
		ck.Cert = p.resolveFile(at.key("cert"), cert, "certificate")
	}
	if okK {
		ck.Key = p.resolveFile(at.key("key"), key, "key")
	}
	return ck, okC && okK
}

// crossCheck runs the checks that span listeners and upstreams: unique
// names, bindable addresses, existing upstreams.
func (p *parser) crossCheck(at keyPath, cfg *Config) {
	names := map[string]int{}
	for i, l := range cfg.Listeners {
		lat := at.index(i)
		if l.Name != "" {
			if j, dup := names[l.Name]; dup {
				p.errorf(lat.key("name"), "duplicate listener name %q (also listeners[%d] at line %d)", l.Name, j, cfg.Listeners[j].Line)
			} else {
				names[l.Name] = i
			}
		}
		for j, prev := range cfg.Listeners[:i] {
			if dup, why := listenConflict(prev, l); dup {
				p.errorf(lat.key("listen"), "duplicate listen address %q: already used by listeners[%d] %q (line %d)", l.Listen, j, prev.Name, prev.Line)
				break
			} else if why != "" {
				p.errorf(lat.key("listen"), "%q cannot be bound next to listeners[%d] %q (%q, line %d): %s", l.Listen, j, prev.Name, prev.Listen, prev.Line, why)
				break
			}
		}
		if l.Upstream != "" {
			u, ok := cfg.Upstreams[l.Upstream]
			switch {
			case !ok:
				p.errorf(lat.key("upstream"), "%s", unknownUpstream(l.Upstream, cfg.Upstreams))
			case l.HashKey.Kind != KeyRemoteAddr && keyOf(u) == balance.KeyAddress:
				p.errorf(lat.key("hash_key"), "upstream %q uses %s, which hashes the client address only (like %s); use hash-consistent or hash with hash_key", l.Upstream, u.Balance, reproduces(u))
			case l.HashKey.Kind != KeyRemoteAddr && keyOf(u) == balance.KeyNone:
				p.errorf(lat.key("hash_key"), "upstream %q uses %s, which reads no key (like %s); use hash-consistent or hash with hash_key", l.Upstream, u.Balance, reproduces(u))
			}
		}
	}
}

func unknownUpstream(name string, ups map[string]*Upstream) string {
	if len(ups) == 0 {
		return fmt.Sprintf("unknown upstream %q: no upstreams are defined (add an [upstreams.%s] table)", name, toml.Key{name})
	}
	defined := make([]string, 0, len(ups))
	for n := range ups {
		defined = append(defined, n)
	}
	sort.Strings(defined)
	msg := fmt.Sprintf("unknown upstream %q", name)
	if s := suggest(name, defined); s != "" {
		msg += fmt.Sprintf(" (did you mean %q?)", s)
	}
	for i, n := range defined {
		defined[i] = fmt.Sprintf("%q", n)
	}
	return msg + "; defined: " + strings.Join(defined, ", ")
}

// listenConflict reports whether b cannot be bound next to a: the same
// address, or an overlap on Linux, where a wildcard address and a specific
// address of the same family and port cannot both be bound (EADDRINUSE),
// and an IPv6 wildcard with ipv6only = false also covers every IPv4
// address. reason is empty when there is no conflict.
func listenConflict(a, b *Listener) (dup bool, reason string) {
	if !a.Addr.IsValid() || !b.Addr.IsValid() || a.Addr.Port() != b.Addr.Port() || a.Addr.Port() == 0 {
		return false, ""
	}
	x, y := a.Addr.Addr(), b.Addr.Addr()
	switch {
	case x == y:
		return true, "same address"
	case x.Is4() == y.Is4() && (x.IsUnspecified() || y.IsUnspecified()):
		return false, "a wildcard address overlaps every address of its family on the same port"
	case x.Is4() && y.IsUnspecified() && !b.IPv6Only, y.Is4() && x.IsUnspecified() && !a.IPv6Only:
		return false, "an IPv6 wildcard with ipv6only = false also covers IPv4"
	}
	return false, ""
}

// socketOptionsSupported says whether this build sets the listener socket options ipv6only and
// reuseport (listener/sockopt_linux.go); elsewhere a config asking for them is refused rather
// than silently ignored.
var socketOptionsSupported = runtime.GOOS == "linux"

// keyOf is what u's balancing method reads from a connection.
func keyOf(u *Upstream) balance.Key {
	m, ok := balance.Get(string(u.Balance))
	if !ok {
		return balance.KeyText // unknown method: already reported
	}
	return m.Key
}

// reproduces names the nginx or HAProxy directive of u's balancing method.
func reproduces(u *Upstream) string {
	m, _ := balance.Get(string(u.Balance))
	return m.Reproduces
}
