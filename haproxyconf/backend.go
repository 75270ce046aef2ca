package haproxyconf

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/tether-proxy/tether/balance"
	"github.com/tether-proxy/tether/conf"
)

// upstreamOut is one [upstreams.NAME] table, or a backend that could not be carried over.
type upstreamOut struct {
	name          string
	src           *proxy
	balance       string
	factor        int
	proxyProtocol string
	servers       []serverOut
	check         *checkOut
	comments      []string
	failed        bool
}

// serverOut is one server line and the HAProxy server it came from.
type serverOut struct{ line, comment string }

// checkOut is an upstream's [upstreams.NAME.health_check] table.
type checkOut struct {
	kind, path        string
	interval, timeout time.Duration
	rise, fall        int
	from              string
}

// haServer is one HAProxy server line, default-server parameters applied.
type haServer struct {
	l                   *Line
	name, addr          string
	weight, id, maxconn int
	backup, disabled    bool
	check               bool
	inter               time.Duration
	rise, fall          int
	proxy               string // "", "v1", "v2"
}

// upstream translates the backend (or listen) section p once; nil when it cannot be carried
// over (its notes say why).
func (t *translator) upstream(p *proxy) *upstreamOut {
	name := p.sec.Name()
	if u, ok := t.upstreams[name]; ok {
		if u.failed {
			return nil
		}
		return u
	}
	u := &upstreamOut{name: name, src: p}
	t.upstreams[name] = u
	if p.sec.Kind() == "backend" {
		t.use(p.sec.Header)
		if m := t.mode(p); m != "tcp" && m != "http" {
			t.note(p.sec.Header, "mode %s: backend not carried over", m)
			u.failed = true
			return nil
		}
	}
	if why := t.buildUpstream(p, u); why != "" {
		t.warn(p.sec.Header, "%s %s not carried over: %s", p.sec.Kind(), name, why)
		for _, l := range p.sec.Lines {
			t.marks[l] = true
		}
		u.failed = true
		return nil
	}
	t.upOrder = append(t.upOrder, u)
	return u
}

// buildUpstream fills u from p; it returns why the backend cannot be carried over, or "".
func (t *translator) buildUpstream(p *proxy, u *upstreamOut) string {
	servers, why := t.servers(p)
	if why != "" {
		return why
	}
	if why := t.balance(p, u); why != "" {
		return why
	}
	explicit := make([]int, len(servers))
	for i, s := range servers {
		explicit[i] = s.id
	}
	ids, err := balance.HAProxyIDs(explicit)
	if err != nil {
		return err.Error()
	}
	seen := map[string]*Line{}
	primaries := 0
	for i, s := range servers {
		if prev := seen[s.addr]; prev != nil {
			return fmt.Sprintf("servers at %s and %s have the same address %s (tether names a server by its address)", pos(prev), pos(s.l), s.addr)
		}
		seen[s.addr] = s.l
		if s.proxy != servers[0].proxy {
			return fmt.Sprintf("servers send PROXY headers of different versions (%s); tether sends one per upstream", pos(s.l))
		}
		if s.weight == 0 {
			t.warn(s.l, "weight 0: HAProxy never chooses it; left out (the other servers keep their ids)")
			continue
		}
		if !s.backup {
			primaries++
		}
		line := s.tetherLine(u.balance, ids[i])
		if _, err := conf.ParseServer(line); err != nil {
			return fmt.Sprintf("server at %s: tether refuses it: %v", pos(s.l), err)
		}
		u.servers = append(u.servers, serverOut{line: line, comment: fmt.Sprintf("%s (%s)", s.name, pos(s.l))})
	}
	if primaries == 0 {
		return "no server other than backup ones with a weight above 0 (tether needs a primary server)"
	}
	u.proxyProtocol = servers[0].proxy
	t.healthCheck(p, u, servers)
	return ""
}

// balance reads balance, hash-type and hash-balance-factor.
func (t *translator) balance(p *proxy, u *upstreamOut) (why string) {
	bl := p.last("balance")
	algo := "roundrobin"
	if bl != nil && len(bl.Args()) >= 1 {
		algo = bl.Args()[0]
	}
	ht := p.last("hash-type")
	consistent := ht != nil && len(ht.Args()) >= 1 && ht.Args()[0] == "consistent"
	switch algo {
	case "source":
		if ht != nil {
			if why := hashTypeWhy(ht); why != "" {
				return why
			}
			t.use(ht)
		}
		u.balance = "source"
		if consistent {
			u.balance = "source-consistent"
		}
		t.use(bl)
		u.comments = append(u.comments, fmt.Sprintf("HAProxy: balance source (%s)%s; server ids are HAProxy's, written out", pos(bl), map[bool]string{true: ", hash-type consistent", false: ", hash-type map-based"}[consistent]))
	case "roundrobin", "static-rr", "leastconn":
		u.balance = "least-conn"
		if bl == nil {
			t.warn(p.sec.Header, "no balance line (HAProxy's default is roundrobin): carried over as balance = \"least-conn\" (tether has no round robin; least_conn spreads long tunnels like it)")
		} else if algo != "leastconn" {
			t.warn(bl, "balance %s carried over as balance = \"least-conn\" (tether has no round robin; least_conn spreads long tunnels like it)", algo)
		} else {
			t.use(bl)
		}
		if ht != nil {
			t.note(ht, "applies to hash balancing only: not needed")
		}
	default:
		return fmt.Sprintf("balance %s (%s) is not supported (tether: source, roundrobin and leastconn)", algo, pos(bl))
	}
	if f := p.last("hash-balance-factor"); f != nil {
		n, ok := 0, len(f.Args()) == 1
		if ok {
			n, ok = atoi(f.Args()[0])
		}
		switch {
		case !ok:
			t.note(f, "expects an integer: not carried over")
		case n == 0:
			t.use(f)
		case u.balance != "source-consistent":
			t.note(f, "applies to hash-type consistent only: ignored, as HAProxy does")
		case n <= 100:
			t.note(f, "must be 0 or above 100 (HAProxy refuses %d): not carried over", n)
		default:
			u.factor = n
			t.use(f)
		}
	}
	return ""
}

// hashTypeWhy says why a hash-type line cannot be reproduced with balance source, or "": the
// source hash takes no hash function, only the avalanche modifier, which tether applies exactly
// as HAProxy's defaults do (map-based without, consistent with).
func hashTypeWhy(l *Line) string {
	a := l.Args()
	if len(a) == 0 || len(a) > 3 || a[0] != "map-based" && a[0] != "consistent" {
		return fmt.Sprintf("hash-type %s (%s) is not map-based or consistent", strings.Join(a, " "), pos(l))
	}
	aval := len(a) == 1 && a[0] == "consistent" || len(a) == 3 && a[2] == "avalanche"
	if aval != (a[0] == "consistent") {
		return fmt.Sprintf("hash-type %s (%s) is not reproduced: tether's source is map-based without avalanche or consistent with it", strings.Join(a, " "), pos(l))
	}
	return ""
}

// servers reads the server lines of p with default-server parameters applied; a server tether
// cannot express makes the backend impossible.
func (t *translator) servers(p *proxy) ([]haServer, string) {
	var defaults []string
	if ds, _ := p.lines("default-server"); len(ds) > 0 {
		for _, d := range ds {
			defaults = append(defaults, d.Args()...)
			t.use(d)
		}
	}
	var out []haServer
	for _, l := range p.sec.Lines {
		if l.Keyword() != "server" {
			continue
		}
		s, why := t.server(l, defaults)
		if why != "" {
			return nil, fmt.Sprintf("server at %s: %s", pos(l), why)
		}
		t.use(l)
		out = append(out, s)
	}
	if len(out) == 0 {
		return nil, "no server lines"
	}
	return out, ""
}

// server reads one server line.
func (t *translator) server(l *Line, defaults []string) (haServer, string) {
	a := l.Args()
	if len(a) < 2 {
		return haServer{}, "want server NAME ADDRESS [PARAMETERS]"
	}
	s := haServer{l: l, name: a[0], weight: 1, rise: 2, fall: 3, inter: 2 * time.Second}
	addr, why := serverAddr(a[1])
	if why != "" {
		return haServer{}, why
	}
	s.addr = addr
	params := append(append([]string(nil), defaults...), a[2:]...)
	var ignored []string
	for i := 0; i < len(params); i++ {
		k := params[i]
		val := func() (string, bool) {
			if i+1 >= len(params) {
				return "", false
			}
			i++
			return params[i], true
		}
		num := func(max int) (int, bool) {
			v, ok := val()
			n, ok2 := atoi(v)
			return n, ok && ok2 && n <= max
		}
		var ok bool
		switch k {
		case "weight":
			s.weight, ok = num(balance.MaxHAProxyWeight)
		case "id":
			s.id, ok = num(balance.MaxHAProxyID)
			ok = ok && s.id > 0
		case "maxconn":
			s.maxconn, ok = num(1 << 30)
		case "rise":
			s.rise, ok = num(1 << 20)
			ok = ok && s.rise > 0
		case "fall":
			s.fall, ok = num(1 << 20)
			ok = ok && s.fall > 0
		case "inter":
			v, _ := val()
			d, err := ParseTime(v)
			s.inter, ok = d, err == nil && d > 0
		case "backup":
			s.backup, ok = true, true
		case "disabled":
			s.disabled, ok = true, true
		case "enabled":
			s.disabled, ok = false, true
		case "check":
			s.check, ok = true, true
		case "no-check":
			s.check, ok = false, true
		case "send-proxy":
			s.proxy, ok = "v1", true
		case "send-proxy-v2":
			s.proxy, ok = "v2", true
		case "ssl", "crt", "sni", "alpn", "verify", "ca-file":
			return haServer{}, fmt.Sprintf("%s: tether connects to backends in plain TCP", k)
		case "cookie", "slowstart", "observe", "on-error", "on-marked-down", "on-marked-up", "error-limit",
			"port", "addr", "resolvers", "resolve-prefer", "init-addr", "agent-check", "agent-port", "agent-inter",
			"downinter", "fastinter", "track", "maxqueue", "minconn", "pool-max-conn", "check-send-proxy", "source", "tfo":
			ignored = append(ignored, k)
			if takesValue(k) {
				val()
			}
			ok = true
		default:
			return haServer{}, fmt.Sprintf("parameter %q is not known to tether import-haproxy", k)
		}
		if !ok {
			return haServer{}, fmt.Sprintf("parameter %q has no valid value", k)
		}
	}
	if len(ignored) > 0 {
		t.warn(l, "carried over without %s (tether has no equivalent)", strings.Join(ignored, ", "))
	}
	return s, ""
}

// takesValue reports whether an ignored server parameter has a value.
func takesValue(k string) bool {
	switch k {
	case "agent-check", "check-send-proxy", "tfo":
		return false
	}
	return true
}

// serverAddr reads a server address: ip:port, [ipv6]:port, host:port, with optional ipv4@ or
// ipv6@ prefixes. Sockets, missing ports and port offsets cannot be carried over.
func serverAddr(a string) (string, string) {
	a = strings.TrimPrefix(strings.TrimPrefix(a, "ipv4@"), "ipv6@")
	if strings.Contains(a, "@") || strings.HasPrefix(a, "/") {
		return "", fmt.Sprintf("address %s is not a TCP address (tether connects to TCP backends)", a)
	}
	i := strings.LastIndexByte(a, ':')
	if i < 0 {
		return "", fmt.Sprintf("address %s has no port (HAProxy then uses the client's destination port; tether needs one)", a)
	}
	host, port := strings.TrimSuffix(strings.TrimPrefix(a[:i], "["), "]"), a[i+1:]
	n, ok := atoi(port)
	if !ok || n < 1 || n > 65535 {
		return "", fmt.Sprintf("address %s: port %q is not one port from 1 to 65535 (offsets are not carried over)", a, port)
	}
	if ip, err := netip.ParseAddr(host); err == nil && ip.Zone() == "" {
		return netip.AddrPortFrom(ip, uint16(n)).String(), ""
	}
	if host == "" || strings.ContainsAny(host, ":[]% \t") {
		return "", fmt.Sprintf("address %s: invalid host", a)
	}
	return host + ":" + port, ""
}

// tetherLine writes s as a tether server line: HAProxy's ids for the source methods, no
// passive failure accounting (HAProxy has none: max_fails=0).
func (s haServer) tetherLine(method string, id int) string {
	var b strings.Builder
	b.WriteString(s.addr)
	if s.weight != 1 {
		b.WriteString(" weight=" + strconv.Itoa(s.weight))
	}
	if m, _ := balance.Get(method); m.IDs {
		b.WriteString(" id=" + strconv.Itoa(id))
	}
	if s.maxconn > 0 {
		b.WriteString(" max_conns=" + strconv.Itoa(s.maxconn))
	}
	b.WriteString(" max_fails=0")
	if s.backup {
		b.WriteString(" backup")
	}
	if s.disabled {
		b.WriteString(" down")
	}
	return b.String()
}

// healthCheck maps `check` servers and option httpchk / tcp-check to a health_check table.
func (t *translator) healthCheck(p *proxy, u *upstreamOut, servers []haServer) {
	var first *haServer
	for i := range servers {
		if servers[i].check {
			first = &servers[i]
			break
		}
	}
	hc, tc := p.option("httpchk"), p.option("tcp-check")
	if first == nil {
		for _, l := range []*Line{hc, tc} {
			if l != nil {
				t.note(l, "no server has check: not needed")
			}
		}
		return
	}
	c := &checkOut{kind: "tcp", interval: first.inter, timeout: min(2*time.Second, first.inter), rise: first.rise, fall: first.fall,
		from: fmt.Sprintf("check on %s (%s)", first.name, pos(first.l))}
	if hc != nil && hc.Words[0] != "no" {
		args := hc.Args()[1:]
		c.kind, c.path = "http", "/"
		switch len(args) {
		case 0:
		case 1:
			c.path = args[0]
		default:
			c.path = args[1]
			if args[0] != "GET" {
				t.warn(hc, "method %s: tether's HTTP check sends GET", args[0])
			}
		}
		if !strings.HasPrefix(c.path, "/") || strings.ContainsFunc(c.path, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
			t.warn(hc, "%q is not a request path: tether's HTTP check asks for /", c.path)
			c.path = "/"
		}
		t.use(hc)
	}
	if tc != nil {
		t.use(tc)
	}
	for _, s := range servers {
		if !s.check {
			t.warn(s.l, "no check here, but tether's health_check checks every server of the upstream")
		} else if s.inter != first.inter || s.rise != first.rise || s.fall != first.fall {
			t.warn(s.l, "inter/rise/fall differ from %s's: tether's health_check has one setting per upstream (the first server's)", first.name)
		}
	}
	u.check = c
}
