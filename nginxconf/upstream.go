package nginxconf

import (
	"fmt"
	"net"
	"strings"
	"unicode/utf8"

	"github.com/tether-proxy/tether/conf"
)

// Balances tether supports.
const (
	balanceConsistent = "hash-consistent"
	balancePlain      = "hash"
	balanceIPHash     = "ip-hash"
)

// maxTotalWeight is tether's bound on the summed weight of an upstream's non-backup servers
// (160 ring points per unit of weight).
const maxTotalWeight = 1 << 16

// upstreamDef is one nginx upstream (or the implicit upstream of a `proxy_pass host:port`)
// and the tether upstreams made from it: one per PROXY protocol setting the servers using it
// need.
type upstreamDef struct {
	name     string
	ctx      string
	d        *Directive // nil for an implicit upstream
	implicit bool
	balance  string
	// keyProxyProtocol: nginx hashes $proxy_protocol_addr, the address in the PROXY header.
	keyProxyProtocol bool
	// hashKey is the hash_key of the listeners sending to the upstream, from an http
	// upstream's `hash $cookie_NAME`, `$arg_NAME` or `$http_NAME`; "" for the client address.
	hashKey  string
	servers  []string
	comments []string
	variants []*variant
}

// variant is one tether upstream made from an upstreamDef.
type variant struct {
	def           *upstreamDef
	proxyProtocol string // "", "v1"
	name          string // TOML name, assigned at the end
}

// want returns the variant of u with the given PROXY protocol setting, creating it.
func (u *upstreamDef) want(proxyProtocol string) *variant {
	for _, v := range u.variants {
		if v.proxyProtocol == proxyProtocol {
			return v
		}
	}
	v := &variant{def: u, proxyProtocol: proxyProtocol}
	u.variants = append(u.variants, v)
	return v
}

// upstream reads an upstream {} block of context ctx.
func (t *translator) upstream(d *Directive, ctx string) {
	t.use(d)
	if len(d.Args) != 1 {
		t.skip(d, "expected one name; upstream not carried over")
		return
	}
	if strings.TrimSpace(d.Args[0]) == "" || !utf8.ValidString(d.Args[0]) {
		t.skip(d, "tether needs a non-empty UTF-8 upstream name; upstream not carried over")
		return
	}
	key := strings.ToLower(d.Args[0])
	if prev := t.ups[ctx][key]; prev != nil {
		t.skip(d, "duplicate upstream %q (first at %s); nginx refuses this", d.Args[0], pos(prev.d))
		return
	}
	u := &upstreamDef{name: d.Args[0], ctx: ctx, d: d, balance: balanceConsistent}
	u.comments = append(u.comments, fmt.Sprintf("nginx: %s upstream %s at %s", ctx, u.name, pos(d)))
	balanced := false
	for _, c := range d.Block {
		switch c.Name {
		case "hash":
			balanced = true
			t.hash(c, u)
		case "ip_hash":
			balanced = true
			u.balance = balanceIPHash // the same algorithm: every client keeps its backend
			t.use(c)
		case "sticky":
			balanced = true
			t.note(c, `not supported yet: tether cannot keep a client on a backend by a cookie or route; imported as balance = %q: a client stays on one backend as long as its address does not change`, balanceConsistent)
		case "least_conn", "random", "least_time":
			balanced = true
			t.note(c, `not supported: tether always hashes the client address; imported as balance = %q, so each client sticks to one backend (what WebSocket and Socket.io polling need)`, balanceConsistent)
		}
	}
	if !balanced {
		u.comments = append(u.comments, "nginx balanced this upstream round robin; tether hashes the client address")
		t.note(d, `upstream %s has no hash directive: nginx balances it round robin (each connection to the next server); tether always hashes the client address: imported as balance = %q (the closest: each client sticks to one backend)`, u.name, balanceConsistent)
	}
	seen := map[string]*Directive{}
	total, primaries := 0, 0
	for _, c := range d.Block {
		if c.Name != "server" {
			continue
		}
		line, srv, ok := t.serverLine(c, ctx, u)
		if !ok {
			continue
		}
		if prev := seen[srv.Name]; prev != nil {
			t.note(c, "server %s is listed twice (also at %s): tether needs each once (use weight=); left out, so the hash ring differs from nginx's", srv.Name, pos(prev))
			continue
		}
		seen[srv.Name] = c
		if !srv.Backup {
			total += srv.Weight
			primaries++
		}
		u.servers = append(u.servers, line)
	}
	switch {
	case len(u.servers) > 0 && primaries == 0:
		t.note(d, "upstream %s has only backup servers (nginx refuses this); not carried over", u.name)
		u.servers = nil
	case total > maxTotalWeight:
		t.note(d, "the weights of upstream %s add up to %d; tether allows at most %d; not carried over", u.name, total, maxTotalWeight)
		u.servers = nil
	}
	if len(u.servers) == 0 {
		t.note(d, "upstream %s has no server tether can use; not carried over, nor the servers sending to it", u.name)
	}
	t.ups[ctx][key] = u
	t.defs = append(t.defs, u)
}

// hash reads a `hash KEY [consistent]` directive.
func (t *translator) hash(c *Directive, u *upstreamDef) {
	consistent := len(c.Args) == 2 && c.Args[1] == "consistent"
	if consistent {
		u.balance = balanceConsistent
	} else {
		u.balance = balancePlain
	}
	switch {
	case len(c.Args) == 0 || len(c.Args) > 2 || len(c.Args) == 2 && !consistent:
		t.note(c, `expected "hash KEY [consistent]"; imported as balance = %q`, u.balance)
	case c.Args[0] == "$remote_addr":
		t.use(c)
		u.comments = append(u.comments, fmt.Sprintf("nginx: %s", c))
	case c.Args[0] == "$proxy_protocol_addr":
		t.use(c)
		u.keyProxyProtocol = true
		u.comments = append(u.comments, fmt.Sprintf("nginx: %s (tether: the address of a trusted PROXY header, see proxy_protocol_in)", c))
	case u.ctx == "http" && requestKey(c.Args[0]) != "":
		t.use(c)
		u.hashKey = requestKey(c.Args[0])
		u.comments = append(u.comments, fmt.Sprintf("nginx: %s (tether: hash_key = %q on the listeners sending here)", c, u.hashKey))
	case c.Args[0] == "$binary_remote_addr":
		t.note(c, `not supported: nginx hashes the 4 or 16 raw address bytes, tether the address text ($remote_addr); imported as balance = %q, so clients WILL move to other backends on the switch`, u.balance)
	case u.ctx == "http":
		t.note(c, `not supported: tether hashes the client address ($remote_addr) or a single $cookie_NAME, $arg_NAME or $http_NAME, not %q; imported as balance = %q (a client keeps its backend while its address does not change), so clients WILL move to other backends on the switch`, c.Args[0], u.balance)
	default:
		t.note(c, `not supported yet: tether hashes the client address ($remote_addr), not %q; imported as balance = %q (a client keeps its backend while its address does not change), so clients WILL move to other backends on the switch`, c.Args[0], u.balance)
	}
}

// requestKey returns the tether hash_key for an nginx http hash key that is exactly one request
// variable: $cookie_NAME, $arg_NAME, or $http_NAME (nginx matches a header whose name, lower
// case with "-" as "_", is NAME: written back with dashes). It returns "" for any other key,
// such as one variable followed by more text or another variable.
func requestKey(v string) string {
	var kind, name string
	for _, p := range []struct{ prefix, kind string }{{"$cookie_", "cookie"}, {"$arg_", "query"}, {"$http_", "header"}} {
		if rest, ok := strings.CutPrefix(v, p.prefix); ok {
			kind, name = p.kind, rest
		}
	}
	if name == "" || strings.IndexFunc(name, func(r rune) bool {
		return !(r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z')
	}) >= 0 {
		return "" // not one of the three, or the variable name ends and something follows
	}
	if kind == "header" {
		name = strings.ReplaceAll(name, "_", "-")
	}
	key := kind + ":" + name
	if _, err := conf.ParseHashKey(key); err != nil {
		return ""
	}
	return key
}

// serverLine turns an upstream's server directive into a tether server string: the address
// exactly as written, then the parameters tether knows, as written.
func (t *translator) serverLine(c *Directive, ctx string, u *upstreamDef) (string, conf.Server, bool) {
	if len(c.Args) == 0 {
		t.note(c, "no address; not carried over")
		return "", conf.Server{}, false
	}
	addr := c.Args[0]
	if strings.HasPrefix(addr, "unix:") {
		t.note(c, "not supported: tether connects to TCP backends only; server %s left out, so the hash ring differs from nginx's", addr)
		return "", conf.Server{}, false
	}
	var partial []string
	if _, _, err := net.SplitHostPort(addr); err != nil && ctx == "http" {
		// ngx_http_upstream_server: the default port is 80, but the ring point of the
		// server is computed from the name as written.
		addr = bracketed(addr) + ":80"
		if u.balance == balanceConsistent {
			partial = append(partial, fmt.Sprintf("no port: written as %s for tether, and its ring points are computed from that name, so some clients WILL move to other backends (hash consistent uses the name as written)", addr))
		}
	}
	fields := []string{addr}
	for _, p := range c.Args[1:] {
		name, _, _ := strings.Cut(p, "=")
		switch name {
		case "weight", "max_fails", "fail_timeout", "max_conns", "down", "backup":
			fields = append(fields, p)
		case "resolve":
			partial = append(partial, "parameter resolve: not carried over by import-nginx; tether resolves the name when it starts and on every reload")
		case "slow_start":
			partial = append(partial, "parameter slow_start: not supported; the server gets its full weight at once")
		case "drain":
			partial = append(partial, "parameter drain: not supported; mark it down instead to move its clients")
		default:
			partial = append(partial, fmt.Sprintf("parameter %s: not supported; dropped", p))
		}
	}
	line := strings.Join(fields, " ")
	srv, err := conf.ParseServer(line)
	if err != nil || !utf8.ValidString(line) {
		t.note(c, "%s; server left out, so the hash ring differs from nginx's", errOr(err, "not UTF-8"))
		return "", conf.Server{}, false
	}
	if len(partial) > 0 {
		t.note(c, "%s", strings.Join(partial, "; "))
	} else {
		t.use(c)
	}
	return line, srv, true
}

// bracketed puts an IPv6 literal in brackets.
func bracketed(host string) string {
	if strings.Contains(host, ":") && !strings.HasPrefix(host, "[") {
		return "[" + host + "]"
	}
	return host
}

// implicitUpstream is the upstream nginx makes for `proxy_pass host:port`.
func (t *translator) implicitUpstream(ctx, addr string, from *Directive) *upstreamDef {
	key := "\x00" + addr // cannot collide with a named upstream
	if u := t.ups[ctx][key]; u != nil {
		return u
	}
	u := &upstreamDef{name: addr, ctx: ctx, implicit: true, balance: balanceConsistent, servers: []string{addr}}
	u.comments = append(u.comments, fmt.Sprintf("nginx: proxy_pass %s at %s (one server, no upstream block)", addr, pos(from)))
	t.ups[ctx][key] = u
	t.defs = append(t.defs, u)
	return u
}

// lookupUpstream finds an upstream block by name (nginx compares them case-insensitively).
func (t *translator) lookupUpstream(ctx, name string) *upstreamDef {
	return t.ups[ctx][strings.ToLower(name)]
}

// assignNames gives every variant its TOML name: the nginx name exactly when it is free, so
// that lookups and logs keep using it; otherwise a suffix saying what differs. Upstreams no
// server uses are kept too, under their own names. It returns the variants in output order.
func (t *translator) assignNames() []*variant {
	taken := map[string]bool{}
	var out []*variant
	claim := func(v *variant, names ...string) {
		for _, n := range names {
			if n != "" && !taken[n] {
				v.name = n
				taken[n] = true
				return
			}
		}
		base := names[len(names)-1]
		for i := 2; ; i++ {
			if n := fmt.Sprintf("%s-%d", base, i); !taken[n] {
				v.name, taken[n] = n, true
				return
			}
		}
	}
	for _, u := range t.defs {
		if len(u.variants) == 0 && u.implicit || len(u.servers) == 0 {
			continue
		}
		if len(u.variants) == 0 {
			u.want("")
			u.comments = append(u.comments, "not used by any listener")
		}
		for _, v := range u.variants {
			ppName := u.name
			if v.proxyProtocol != "" {
				ppName = u.name + "-proxy-protocol"
			}
			if len(u.variants) == 1 {
				claim(v, u.name, u.name+"-"+u.ctx)
			} else {
				claim(v, ppName, ppName+"-"+u.ctx)
			}
			out = append(out, v)
		}
	}
	return out
}
