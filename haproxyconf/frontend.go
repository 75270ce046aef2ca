package haproxyconf

import (
	"fmt"
	"net/netip"
	"path/filepath"
	"strings"
	"time"

	"github.com/tether-proxy/tether/tlsterm"
)

// quietLimit is the idle timeout at or below which a quiet WebSocket is cut: the classic
// complaint about `timeout client 60s` or `timeout tunnel 1m`.
const quietLimit = 60 * time.Second

// listenerOut is one [[listeners]] entry.
type listenerOut struct {
	name     string
	base     string // the section name, for the listener's name
	addr     string // host:port as tether writes it
	port     string
	bind     *Line
	sec      *Section
	upstream *upstreamOut
	preamble string
	proxyIn  bool
	cert     string
	curves   []string // bind curves, as tlsterm.GroupName spells them; nil: tether's default
	maxConns int
	timeouts []timeoutOut
}

// timeoutOut is one [listeners.timeouts] key.
type timeoutOut struct{ key, value, comment string }

// frontend translates a frontend or listen section into one listener per bind address.
func (t *translator) frontend(p *proxy) {
	sec := p.sec
	t.use(sec.Header)
	mode := t.mode(p)
	if mode != "tcp" && mode != "http" {
		t.skipSection(sec, "mode %s: not carried over (tether proxies TCP: mode tcp)", mode)
		return
	}
	up, ok := t.frontendTarget(p)
	if !ok {
		return
	}
	binds, _ := p.lines("bind")
	if len(binds) == 0 {
		t.note(sec.Header, "%s %s has no bind line: not carried over", sec.Kind(), sec.Name())
		return
	}
	preamble := "none"
	if mode == "http" {
		preamble = "http"
		t.warn(p.last("mode"), "mode http: carried over as a TCP listener that reads the request head (preamble = \"http\"); HTTP rules, ACLs and header edits are not")
	}
	maxConns := 0
	if l := p.last("maxconn"); l != nil && l.Keyword() == "maxconn" && len(l.Args()) == 1 {
		if n, ok := atoi(l.Args()[0]); ok && n > 0 {
			maxConns = n
			t.use(l)
		}
	}
	timeouts := t.timeouts(p, up)
	for _, b := range binds {
		t.bind(p, b, up, preamble, maxConns, timeouts)
	}
}

// frontendTarget finds the backend a frontend sends to: default_backend, or a use_backend
// without condition; a listen section is its own backend.
func (t *translator) frontendTarget(p *proxy) (*upstreamOut, bool) {
	sec := p.sec
	name := ""
	var from *Line
	if sec.Kind() == "listen" {
		name = sec.Name()
	}
	for _, l := range sec.Lines {
		switch l.Keyword() {
		case "use_backend":
			switch {
			case len(l.Args()) == 1 && name == "":
				name, from = l.Args()[0], l
				t.use(l)
			case len(l.Args()) > 1:
				t.note(l, "ACL conditions are not carried over: tether sends every client of a listener to one upstream (its default_backend)")
			}
		case "default_backend":
			if len(l.Args()) == 1 && from == nil && sec.Kind() != "listen" {
				name, from = l.Args()[0], l
				t.use(l)
			}
		}
	}
	if name == "" {
		if l := p.last("default_backend"); l != nil && len(l.Args()) == 1 {
			name, from = l.Args()[0], l
			t.use(l)
		}
	}
	if name == "" {
		t.note(sec.Header, "%s %s names no backend (default_backend): not carried over", sec.Kind(), sec.Name())
		return nil, false
	}
	be := t.backends[name]
	if be == nil {
		t.note(from, "no backend named %q: %s %s not carried over", name, sec.Kind(), sec.Name())
		return nil, false
	}
	up := t.upstream(be)
	if up == nil {
		if from != nil {
			t.note(from, "backend %s was not carried over (see its notes): %s %s neither", name, sec.Kind(), sec.Name())
		}
		for _, l := range sec.Lines {
			t.marks[l] = true
		}
		return nil, false
	}
	return up, true
}

// timeouts maps HAProxy's timeouts of a frontend and its backend to a listener's: `timeout
// tunnel`, else the shorter of `timeout client` and `timeout server`, is the idle timeout of a
// quiet tunnel; `timeout client-fin` the half-close one; `timeout connect` the connect one.
func (t *translator) timeouts(fe *proxy, up *upstreamOut) []timeoutOut {
	var out []timeoutOut
	read := func(l *Line) (time.Duration, bool) {
		if l == nil || len(l.Args()) != 2 {
			return 0, false
		}
		d, err := ParseTime(l.Args()[1])
		if err != nil {
			t.note(l, "%v; not carried over", err)
			return 0, false
		}
		t.use(l)
		return d, true
	}
	be := up.src
	client, server, tunnel := fe.timeout("client"), be.timeout("server"), be.timeout("tunnel")
	if fe == be {
		tunnel = fe.timeout("tunnel")
	}
	var idle time.Duration
	var idleFrom *Line
	if d, ok := read(tunnel); ok && d > 0 {
		idle, idleFrom = d, tunnel
		if c := client; c != nil {
			t.use(c)
		}
		if s := server; s != nil {
			t.use(s)
		}
	} else {
		dc, okc := read(client)
		ds, oks := read(server)
		switch {
		case okc && oks && dc > 0 && ds > 0:
			idle, idleFrom = min(dc, ds), client
			if ds < dc {
				idleFrom = server
			}
		case okc && dc > 0:
			idle, idleFrom = dc, client
		case oks && ds > 0:
			idle, idleFrom = ds, server
		}
	}
	if idle > 0 {
		out = append(out, timeoutOut{"idle", formatDuration(idle), fmt.Sprintf("timeout %s %s (%s)", idleFrom.Args()[0], idleFrom.Args()[1], pos(idleFrom))})
		if idle <= quietLimit {
			t.warn(idleFrom, "timeout %s %s carried over as idle = %q: a WebSocket quiet for %s is cut (tether's default is 1h; raise it unless the application pings more often)",
				idleFrom.Args()[0], idleFrom.Args()[1], formatDuration(idle), formatDuration(idle))
		}
	}
	if l := be.timeout("connect"); l != nil {
		if d, ok := read(l); ok && d > 0 {
			out = append(out, timeoutOut{"connect", formatDuration(d), fmt.Sprintf("timeout connect (%s)", pos(l))})
		}
	}
	if l := fe.timeout("client-fin"); l != nil {
		if d, ok := read(l); ok && d > 0 {
			out = append(out, timeoutOut{"half_close", formatDuration(d), fmt.Sprintf("timeout client-fin (%s)", pos(l))})
		}
	}
	return out
}

// bind translates one bind line: each of its comma-separated addresses is a listener.
func (t *translator) bind(p *proxy, b *Line, up *upstreamOut, preamble string, maxConns int, timeouts []timeoutOut) {
	args := b.Args()
	if len(args) == 0 {
		t.note(b, "bind without an address: not carried over")
		return
	}
	var cert string
	var curves []string
	proxyIn, ssl := false, false
	for i := 1; i < len(args); i++ {
		switch args[i] {
		case "accept-proxy":
			proxyIn = true
		case "ssl":
			ssl = true
		case "crt":
			if i+1 < len(args) {
				i++
				cert = args[i]
			}
		case "curves":
			if i+1 < len(args) {
				i++
				curves = t.curves(b, args[i])
			}
		default:
			t.note(b, "bind option %q is not carried over (tether reads: ssl crt FILE, curves, accept-proxy); listener not carried over", args[i])
			return
		}
	}
	if ssl != (cert != "") {
		t.note(b, "ssl needs exactly one crt FILE for tether (a PEM with certificate and key); listener not carried over")
		return
	}
	if cert != "" {
		if !filepath.IsAbs(cert) {
			base := t.dir
			if t.crtBase != "" {
				base = t.crtBase
				if !filepath.IsAbs(base) {
					base = filepath.Join(t.dir, base)
				}
			}
			cert = filepath.Join(base, cert)
		}
	}
	for _, a := range strings.Split(args[0], ",") {
		addr, port, err := bindAddr(a)
		if err != nil {
			t.note(b, "address %q: %v; not carried over", a, err)
			continue
		}
		if other := t.conflict(addr); other != nil {
			t.note(b, "address %s overlaps %s of the bind at %s: tether cannot bind both; not carried over", addr, other.addr, pos(other.bind))
			continue
		}
		t.use(b)
		l := &listenerOut{base: p.sec.Name(), addr: addr, port: port, bind: b, sec: p.sec, upstream: up,
			preamble: preamble, proxyIn: proxyIn, cert: cert, curves: curves, maxConns: maxConns, timeouts: timeouts}
		if proxyIn {
			t.warn(b, "accept-proxy carried over as proxy_protocol_in trusting every address, as HAProxy does; narrow trusted to your load balancers")
		}
		t.listeners = append(t.listeners, l)
	}
}

// curves translates a bind's curves (OpenSSL's colon-separated group list). A group Go does not
// have keeps tether's default, which offers X25519MLKEM768 besides X25519 and the NIST curves.
func (t *translator) curves(b *Line, list string) []string {
	names, err := tlsterm.GroupList(list)
	if err != nil {
		t.note(b, "curves: %v; tether's default groups apply", err)
		return nil
	}
	return names
}

// bindAddr reads one bind address: ":80", "*:80", "0.0.0.0:80", "::80"-style IPv6 with the
// port after the last colon, "[::]:80", "ipv4@" and "ipv6@" prefixes. Port ranges, unix
// sockets and other families cannot be carried over.
func bindAddr(a string) (addr, port string, err error) {
	a = strings.TrimPrefix(strings.TrimPrefix(a, "ipv4@"), "ipv6@")
	if strings.Contains(a, "@") || strings.HasPrefix(a, "/") {
		return "", "", fmt.Errorf("not a TCP address (tether listens on TCP only)")
	}
	i := strings.LastIndexByte(a, ':')
	if i < 0 {
		return "", "", fmt.Errorf("no port")
	}
	host, port := a[:i], a[i+1:]
	if n, ok := atoi(port); !ok || n < 1 || n > 65535 {
		return "", "", fmt.Errorf("port %q is not one port from 1 to 65535 (ranges and offsets are not carried over)", port)
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	switch host {
	case "", "*":
		return "0.0.0.0:" + port, port, nil
	}
	ip, err := netip.ParseAddr(host)
	if err != nil || ip.Zone() != "" {
		return "", "", fmt.Errorf("host %q is not an IP address (bind takes addresses)", host)
	}
	n, _ := atoi(port)
	return netip.AddrPortFrom(ip, uint16(n)).String(), port, nil
}

// conflict returns the listener whose address tether could not bind next to addr: the same
// address and port, or a wildcard of the same family and port. An IPv6 wildcard next to IPv4
// addresses on its port is bound IPv6-only (see dualStack), as Linux then routes IPv4 clients
// to HAProxy's IPv4 socket.
func (t *translator) conflict(addr string) *listenerOut {
	a := netip.MustParseAddrPort(addr)
	for _, l := range t.listeners {
		b := netip.MustParseAddrPort(l.addr)
		x, y := a.Addr(), b.Addr()
		if a.Port() == b.Port() && x.Is4() == y.Is4() && (x == y || x.IsUnspecified() || y.IsUnspecified()) {
			return l
		}
	}
	return nil
}

// dualStack reports whether listener l, an IPv6 wildcard, also takes IPv4 clients: HAProxy
// binds :: without IPV6_V6ONLY, so it does unless an IPv4 address shares its port.
func (t *translator) dualStack(l *listenerOut) bool {
	a := netip.MustParseAddrPort(l.addr)
	if !a.Addr().Is6() || !a.Addr().IsUnspecified() {
		return false
	}
	for _, o := range t.listeners {
		b := netip.MustParseAddrPort(o.addr)
		if b.Port() == a.Port() && b.Addr().Is4() {
			return false
		}
	}
	return true
}
