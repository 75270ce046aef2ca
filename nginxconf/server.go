package nginxconf

import (
	"fmt"
	"strings"
	"time"

	"github.com/tether-proxy/tether/conf"
)

// settings is what one server block gives each of its listen directives.
type settings struct {
	ctx      string
	server   *Directive
	srvScope *scope // the server block
	target   *upstreamDef
	proxyOut string // PROXY protocol to the backends: "" or "v1"
	preamble string
	names    []string // server_name values
	maxPre   int
	perConn  int // max_conns_per_client
	timeouts []timeoutOut
	comments []string
	// forwarded is set when proxy_set_header lines ask for the client's address in
	// X-Real-IP / X-Forwarded-For: tether's forwarded_headers (http only).
	forwarded string

	tls     *tlsOut // computed on the first ssl listen
	tlsDone bool
}

// timeoutOut is one key of [listeners.timeouts].
type timeoutOut struct {
	key, value, comment string
}

// listenerOut is one [[listeners]] entry.
type listenerOut struct {
	set      *settings
	listen   listenSpec
	name     string
	upstream *variant
	tls      *tlsOut
	proxyIn  *proxyInOut
	merged   []*Directive // further server blocks on the same address (http)
}

// streamServer translates a stream server {} block.
func (t *translator) streamServer(s *scope, srv *Directive) {
	t.use(srv)
	pps := s.own("proxy_pass")
	if len(pps) == 0 {
		t.skip(srv, "stream server without proxy_pass (e.g. return or pass): nothing for tether to proxy; not carried over")
		return
	}
	for _, extra := range pps[1:] {
		t.note(extra, "duplicate proxy_pass (nginx refuses this); only the first is used")
	}
	target := t.proxyTarget("stream", pps[0])
	if target == nil {
		t.skip(srv, "server not carried over: tether cannot proxy to what its proxy_pass names")
		return
	}
	set := &settings{ctx: "stream", server: srv, srvScope: s, target: target, preamble: "none"}
	set.comments = append(set.comments, "nginx stream passes bytes without reading them; preamble = \"http\" would also check that clients speak HTTP/1.x")
	if d := last(s.nearest("proxy_protocol")); d != nil {
		if len(d.Args) == 1 && d.Args[0] == "on" {
			t.use(d)
			set.proxyOut = "v1"
		} else if len(d.Args) == 1 && d.Args[0] == "off" {
			t.use(d)
		} else {
			t.note(d, `expected "on" or "off"; not carried over`)
		}
	}
	t.timeout(s, "proxy_connect_timeout", "connect", set, "")
	t.timeout(s, "proxy_timeout", "idle", set, "nginx's proxy_timeout default (10m) closed quiet connections; tether's idle default is 1h")
	t.limitConn(s, set)
	t.listens(s, srv, set)
}

// httpServer translates an http server {} block: the location whose proxy_pass tether can
// carry over decides the upstream; every request on the listener goes there.
func (t *translator) httpServer(s *scope, srv *Directive) {
	t.use(srv)
	locs := t.locations(s)
	var main *location
	for _, l := range locs {
		if l.pp != nil && hasUpgradeHeader(l.sc) {
			main = l
			break
		}
	}
	for _, l := range locs {
		if main == nil && l.pp != nil && len(l.d.Args) == 1 && l.d.Args[0] == "/" {
			main = l
		}
	}
	for _, l := range locs {
		if main == nil && l.pp != nil {
			main = l
		}
	}
	if main == nil {
		t.skip(srv, "http server without proxy_pass (e.g. a redirect or static files): nothing for tether to proxy; not carried over")
		return
	}
	target := t.proxyTarget("http", main.pp)
	if target == nil {
		t.skip(srv, "server not carried over: tether cannot proxy to what its proxy_pass names")
		return
	}
	t.use(main.d)
	for _, l := range locs {
		switch {
		case l == main:
		case l.pp == nil:
			t.skip(l.d, "location without proxy_pass: tether sends every request on this listener to upstream %s (the proxy_pass of location %s at %s), these too", target.name, strings.Join(main.d.Args, " "), pos(main.d))
		default:
			t.use(l.d)
			if other := t.peekTarget("http", l.pp); other == target {
				t.use(l.pp)
			} else {
				t.note(l.pp, "tether sends a whole listener to one upstream: requests for location %s go to upstream %s (the proxy_pass of location %s at %s) instead", strings.Join(l.d.Args, " "), target.name, strings.Join(main.d.Args, " "), pos(main.d))
			}
		}
	}
	set := &settings{ctx: "http", server: srv, srvScope: s, target: target, preamble: "http"}
	for _, d := range s.own("server_name") {
		t.use(d)
		set.names = append(set.names, d.Args...)
	}
	t.timeout(s, "client_header_timeout", "preamble", set, "")
	t.timeout(main.sc, "proxy_connect_timeout", "connect", set, "")
	t.timeout(main.sc, "proxy_read_timeout", "idle", set, "nginx's proxy_read_timeout default (60s) closed quiet WebSockets; tether's idle default is 1h")
	t.headerBuffers(s, set)
	t.limitConn(main.sc, set)
	t.forwardedHeaders(main.sc, set)
	t.listens(s, srv, set)
}

// forwardingValues are the proxy_set_header values tether's forwarded_headers reproduces, by
// header: the client's address, or nginx's X-Forwarded-For chain with it appended, and the
// scheme.
var forwardingValues = map[string][]string{
	"x-real-ip":         {"$remote_addr", "$binary_remote_addr"},
	"x-forwarded-for":   {"$proxy_add_x_forwarded_for", "$remote_addr"},
	"x-forwarded-proto": {"$scheme"},
}

// forwardedHeaders carries proxy_set_header X-Real-IP $remote_addr and X-Forwarded-For
// $proxy_add_x_forwarded_for (and X-Forwarded-Proto $scheme alongside them) over as
// forwarded_headers, which sets exactly those headers in the request head tether replays.
func (t *translator) forwardedHeaders(s *scope, set *settings) {
	var used []*Directive
	addr := false
	for _, d := range s.nearest("proxy_set_header") {
		if len(d.Args) != 2 {
			continue
		}
		name := strings.ToLower(d.Args[0])
		for _, v := range forwardingValues[name] {
			if d.Args[1] == v {
				used = append(used, d)
				addr = addr || name != "x-forwarded-proto"
			}
		}
	}
	if !addr {
		return
	}
	t.use(used...)
	var what []string
	for _, d := range used {
		what = append(what, fmt.Sprintf("%s %s (%s)", d.Args[0], d.Args[1], pos(d)))
	}
	set.forwarded = "proxy_set_header " + strings.Join(what, ", ") + "; tether sets X-Forwarded-For, X-Real-IP and X-Forwarded-Proto, replacing a client's own unless its address is in trusted"
}

// location is a location block with the scope it sees and its proxy_pass, if any.
type location struct {
	d  *Directive
	sc *scope
	pp *Directive
}

// locations lists the location blocks of a server, nested ones included, in order.
func (t *translator) locations(s *scope) []*location {
	var out []*location
	for _, d := range s.dirs {
		if d.Name != "location" || !d.IsBlock() {
			continue
		}
		sc := &scope{dirs: d.Block, parent: s, ctx: s.ctx}
		l := &location{d: d, sc: sc}
		if pps := sc.own("proxy_pass"); len(pps) > 0 {
			l.pp = pps[0]
			for _, extra := range pps[1:] {
				t.note(extra, "duplicate proxy_pass (nginx refuses this); only the first is used")
			}
		}
		out = append(out, l)
		out = append(out, t.locations(sc)...)
	}
	return out
}

// hasUpgradeHeader reports whether a location itself sets the Upgrade header: the WebSocket
// location of a server.
func hasUpgradeHeader(s *scope) bool {
	for _, d := range s.own("proxy_set_header") {
		if len(d.Args) > 0 && strings.EqualFold(d.Args[0], "Upgrade") {
			return true
		}
	}
	return false
}

// proxyTarget resolves a proxy_pass to an upstream, reporting what cannot be carried over.
func (t *translator) proxyTarget(ctx string, pp *Directive) *upstreamDef {
	u, why := t.resolveTarget(ctx, pp)
	switch {
	case u == nil:
		t.note(pp, "%s", why)
	case why != "":
		t.note(pp, "%s", why)
	default:
		t.use(pp)
	}
	return u
}

// peekTarget resolves a proxy_pass without reporting anything.
func (t *translator) peekTarget(ctx string, pp *Directive) *upstreamDef {
	u, _ := t.resolveTarget(ctx, pp)
	return u
}

// resolveTarget finds the upstream a proxy_pass names: an upstream block, or the implicit
// one-server upstream of an address. why explains a partial or failed translation.
func (t *translator) resolveTarget(ctx string, pp *Directive) (u *upstreamDef, why string) {
	if len(pp.Args) != 1 {
		return nil, "expected one argument"
	}
	arg := pp.Args[0]
	if strings.Contains(arg, "$") {
		return nil, "not supported: tether cannot choose the upstream with variables"
	}
	hostport, uri := arg, ""
	if ctx == "http" {
		switch {
		case strings.HasPrefix(arg, "https://"):
			return nil, whyBackendTLS
		case !strings.HasPrefix(arg, "http://"):
			return nil, fmt.Sprintf("cannot read %q (want http://UPSTREAM or http://HOST:PORT)", arg)
		}
		hostport = strings.TrimPrefix(arg, "http://")
		if i := strings.IndexByte(hostport, '/'); i >= 0 {
			hostport, uri = hostport[:i], hostport[i:]
		}
		if uri != "" && uri != "/" {
			why = fmt.Sprintf("the URI part %q is not carried over: tether forwards the request line unchanged", uri)
		}
	}
	if strings.HasPrefix(hostport, "unix:") {
		return nil, "not supported: tether connects to TCP backends only"
	}
	if u := t.lookupUpstream(ctx, hostport); u != nil {
		if len(u.servers) == 0 {
			return nil, fmt.Sprintf("upstream %s has no server tether can use", u.name)
		}
		return u, why
	}
	if host, port, ok := splitListen(hostport); ok && port == "" && ctx == "http" {
		hostport = bracketed(host) + ":80"
	} else if !ok || port == "" {
		return nil, fmt.Sprintf("no upstream named %q and not a host:port address", hostport)
	}
	if _, err := conf.ParseServer(hostport); err != nil {
		return nil, err.Error()
	}
	return t.implicitUpstream(ctx, hostport, pp), why
}

// timeout carries an nginx time directive over as a tether timeout; defaultComment explains
// tether's default when nginx does not set it.
func (t *translator) timeout(s *scope, directive, key string, set *settings, defaultComment string) {
	d := last(s.nearest(directive))
	if d == nil {
		if defaultComment != "" {
			set.comments = append(set.comments, defaultComment)
		}
		return
	}
	if len(d.Args) != 1 {
		t.note(d, "expected one time argument; not carried over")
		return
	}
	dur, err := ParseTime(d.Args[0], false)
	if err != nil || dur <= 0 {
		t.note(d, "%s; not carried over (tether's default applies)", errOr(err, "tether timeouts must be greater than 0"))
		return
	}
	if dur < time.Millisecond {
		dur = time.Millisecond
	}
	t.use(d)
	set.timeouts = append(set.timeouts, timeoutOut{key: key, value: formatDuration(dur), comment: fmt.Sprintf("%s %s (%s)", directive, d.Args[0], pos(d))})
	if key == "idle" && dur <= quietLimit {
		t.note(d, "carried over as idle = %q, but a WebSocket quiet for %s is then cut: the classic complaint these settings cause (tether's default is 1h; raise it unless the application pings more often)",
			formatDuration(dur), formatDuration(dur))
	}
}

// quietLimit is the idle timeout at or below which import-nginx warns: nginx's own 60s
// proxy_read_timeout default is what cuts quiet WebSockets.
const quietLimit = 60 * time.Second

// headerBuffers carries large_client_header_buffers N SIZE over as max_preamble = N*SIZE,
// nginx's bound on a whole request head.
func (t *translator) headerBuffers(s *scope, set *settings) {
	d := last(s.nearest("large_client_header_buffers"))
	if d == nil {
		return
	}
	if len(d.Args) != 2 {
		t.note(d, "expected NUMBER SIZE; not carried over")
		return
	}
	n, err1 := ParseSize(d.Args[0])
	size, err2 := ParseSize(d.Args[1])
	if err1 != nil || err2 != nil || n < 1 || size < 1 || n > 1<<20 || size > 1<<30 {
		t.note(d, "cannot read %s %s; not carried over", d.Args[0], d.Args[1])
		return
	}
	total := n * size
	switch {
	case total < 1024:
		total = 1024
		t.note(d, "nginx allows %d bytes of request head; tether's minimum max_preamble is 1024", n*size)
	case total > 1<<20:
		total = 1 << 20
		t.note(d, "nginx allows %d bytes of request head; tether's maximum max_preamble is 1048576", n*size)
	default:
		t.note(d, "carried over as max_preamble = %d (the whole head); nginx also limits each line to %s", total, d.Args[1])
	}
	set.maxPre = int(total)
}

// listens makes one listener per listen directive of a server block (nginx's *:80 when an
// http server has none).
func (t *translator) listens(s *scope, srv *Directive, set *settings) {
	lds := s.own("listen")
	if len(lds) == 0 {
		if set.ctx == "stream" {
			t.note(srv, "stream server without listen: nothing to carry over")
			return
		}
		t.note(srv, "no listen directive: nginx listens on *:80 (*:8000 when not started as root); imported as 0.0.0.0:80")
		lds = []*Directive{{Name: "listen", Args: []string{"80"}, File: srv.File, Line: srv.Line, seq: srv.seq}}
		t.use(lds[0])
	}
	for _, ld := range lds {
		ls, ok := t.parseListen(ld, set.ctx)
		if !ok {
			continue
		}
		l := &listenerOut{set: set, listen: ls}
		if ls.ssl || t.sslOn(s) {
			l.listen.ssl = true
			l.tls = t.tlsFor(set)
			if l.tls == nil {
				t.note(ld, "ssl without a usable ssl_certificate and ssl_certificate_key; this listen is not carried over")
				continue
			}
		}
		if ls.proxyProtocol {
			l.proxyIn = t.proxyIn(set, ld)
		} else {
			t.warnRealIP(set, ld)
			if set.target.keyProxyProtocol {
				t.note(ld, "upstream %s hashes $proxy_protocol_addr, which is empty on a listen without proxy_protocol (nginx then balances round robin); tether hashes the client address here", set.target.name)
			}
		}
		t.addListener(l)
	}
}

// sslOn reports the deprecated `ssl on;` of http servers, which makes every listen ssl.
func (t *translator) sslOn(s *scope) bool {
	d := last(s.nearest("ssl"))
	if d == nil || len(d.Args) != 1 {
		return false
	}
	t.use(d)
	return d.Args[0] == "on"
}

// addListener adds l, merging http server blocks that share a listen address: nginx chooses
// among them by Host and SNI, tether serves the address with one listener whose certificates
// are all of theirs (chosen by SNI) and whose upstream is the default server's (else the
// first one's).
func (t *translator) addListener(l *listenerOut) {
	var prev *listenerOut
	for _, o := range t.listeners {
		switch why := bindConflict(o.listen, l.listen); {
		case o.listen.addr == l.listen.addr && o.set.ctx == "http" && l.set.ctx == "http":
			prev = o
		case o.listen.addr == l.listen.addr:
			t.note(l.listen.d, "%s is already used by the %s server at %s (nginx refuses this too); this listen is not carried over", l.listen.addr, o.set.ctx, pos(o.set.server))
			return
		case why != "":
			t.note(l.listen.d, "%s cannot be bound next to %s (the %s server at %s): %s; nginx served both from one socket, tether sends these connections to upstream %s of the listener on %s; this listen is not carried over",
				l.listen.addr, o.listen.addr, o.set.ctx, pos(o.set.server), why, o.set.target.name, o.listen.addr)
			return
		}
		if prev != nil {
			break
		}
	}
	if prev == nil {
		l.upstream = l.set.target.want(l.set.proxyOut)
		t.listeners = append(t.listeners, l)
		return
	}
	first, firstListen := prev.set, prev.listen.d
	winner, loser, loserListen := first, l.set, l.listen.d
	if l.listen.defaultServer && !prev.listen.defaultServer {
		winner, loser, loserListen = l.set, first, firstListen
		prev.set, prev.listen.defaultServer = l.set, true
		prev.upstream = l.set.target.want(l.set.proxyOut)
		prev.tls = mergeTLS(l.tls, prev.tls)
	} else {
		prev.tls = mergeTLS(prev.tls, l.tls)
	}
	prev.listen.ssl = prev.listen.ssl || l.listen.ssl
	if prev.proxyIn == nil {
		prev.proxyIn = l.proxyIn
	}
	prev.merged = append(prev.merged, loser.server)
	if loser.target != winner.target {
		t.note(loserListen, "server blocks at %s and %s share %s: tether cannot choose the upstream by server name, so requests for %s go to upstream %s (of the server at %s)",
			pos(first.server), pos(l.set.server), l.listen.addr, orDash(strings.Join(loser.names, " ")), winner.target.name, pos(winner.server))
	}
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// bindConflict says why b cannot be bound next to a on Linux (as conf checks): a wildcard
// address overlaps every address of its family on its port, and an IPv6 wildcard with
// ipv6only off every IPv4 address too. It is "" when both can be bound.
func bindConflict(a, b listenSpec) string {
	if a.port != b.port || a.ip == b.ip {
		return ""
	}
	x, y := a.ip, b.ip
	switch {
	case x.Is4() == y.Is4() && (x.IsUnspecified() || y.IsUnspecified()):
		return "a wildcard address covers every address of its family on the same port"
	case x.Is4() && y.IsUnspecified() && !b.ipv6only, y.Is4() && x.IsUnspecified() && !a.ipv6only:
		return "an IPv6 wildcard with ipv6only=off covers IPv4 too"
	}
	return ""
}

// last returns the last element of ds, or nil.
func last(ds []*Directive) *Directive {
	if len(ds) == 0 {
		return nil
	}
	return ds[len(ds)-1]
}
