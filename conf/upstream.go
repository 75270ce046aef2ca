package conf

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tether-proxy/tether/balance"
)

// UpstreamOps are the settings of an [upstreams.NAME] table that act
// while tether runs: active health checks and the DNS re-resolution of
// `resolve` servers. They are embedded in [Upstream].
type UpstreamOps struct {
	// HealthCheck is the [upstreams.NAME.health_check] table. Without one
	// its Type is empty and there are no active checks (passive max_fails /
	// fail_timeout still apply).
	HealthCheck HealthCheck
	// Resolvers are the DNS servers (nginx `resolver`) that `resolve`
	// servers are looked up with, in order, by tether's own DNS client,
	// which honours the answers' TTL. Empty means the system resolver
	// (/etc/hosts, /etc/resolv.conf), whose TTLs are not visible, so names
	// are then re-resolved every ResolveInterval (30s when unset). Only
	// allowed when a server is marked resolve.
	Resolvers []netip.AddrPort
	// ResolveInterval, when set, re-resolves `resolve` servers at this fixed
	// interval instead of following the TTL (like nginx `resolver ...
	// valid=TIME`). Zero means: the TTL with Resolvers, 30s without.
	ResolveInterval time.Duration
}

// HealthCheckType is the kind of active check.
type HealthCheckType string

// Active check kinds.
const (
	// CheckTCP passes when a TCP connection to the backend is accepted.
	CheckTCP HealthCheckType = "tcp"
	// CheckHTTP passes when an HTTP/1.1 GET gets an expected status.
	CheckHTTP HealthCheckType = "http"
)

// HealthCheck is an upstream's [upstreams.NAME.health_check] table. Each
// backend address is checked every Interval; Fall consecutive failures
// make it unhealthy (skipped like `down`), Rise consecutive successes make
// it healthy again (HAProxy's inter, rise and fall).
type HealthCheck struct {
	// Type is CheckTCP (the default in a health_check table) or CheckHTTP;
	// empty when the upstream has no health_check table.
	Type HealthCheckType
	// Interval between two checks of one backend (default 5s).
	Interval time.Duration
	// Timeout bounds one check, connect included (default 2s, at most
	// Interval).
	Timeout time.Duration
	// Rise is the number of consecutive passed checks that make an
	// unhealthy backend healthy (default 2).
	Rise int
	// Fall is the number of consecutive failed checks that make a healthy
	// backend unhealthy (default 3).
	Fall int
	// Path is the HTTP request target (default "/"); http only.
	Path string
	// Host is the HTTP Host header; empty means the server's address as
	// written on its server line (e.g. "app.internal:3001"); http only.
	Host string
	// ExpectStatus lists the status ranges that pass (default 200-399);
	// http only.
	ExpectStatus []StatusRange
}

// StatusRange is an inclusive range of HTTP status codes.
type StatusRange struct{ Min, Max int }

// Enabled reports whether active checks are configured.
func (h *HealthCheck) Enabled() bool { return h.Type != "" }

// Expects reports whether an HTTP check answered with status passes.
func (h *HealthCheck) Expects(status int) bool {
	for _, r := range h.ExpectStatus {
		if status >= r.Min && status <= r.Max {
			return true
		}
	}
	return false
}

// Health check and resolver defaults.
const (
	defaultCheckInterval = 5 * time.Second
	defaultCheckTimeout  = 2 * time.Second
	defaultCheckRise     = 2
	defaultCheckFall     = 3
	defaultCheckPath     = "/"
	defaultResolverPort  = 53
)

// Keys of the tables decoded here.
var (
	// allUpstreamKeys extends parse.go's upstreamKeys with the keys of UpstreamOps.
	allUpstreamKeys = append(slices.Clip(upstreamKeys), "source", "health_check", "resolver", "resolve_interval")
	healthCheckKeys = []string{"type", "interval", "timeout", "rise", "fall", "path", "host", "expect_status"}
	httpCheckKeys   = []string{"path", "host", "expect_status"}
)

// upstreams decodes the [upstreams.NAME] tables.
func (p *parser) upstreams(at keyPath, v any, cfg *Config) {
	m, ok := v.(map[string]any)
	if !ok {
		p.errorf(at, "expected a table of upstreams ([upstreams.NAME]), got %s", describe(v))
		return
	}
	for _, name := range sortedKeys(m) {
		uat := at.key(name)
		if um, ok := m[name].(map[string]any); ok {
			cfg.Upstreams[name] = p.upstream(uat, name, um)
			continue
		}
		p.errorf(uat, "expected a table ([upstreams.%s]), got %s", uat[len(uat)-1], describe(m[name]))
		// Still register the name, so listeners using it are not also
		// reported as referring to an unknown upstream.
		cfg.Upstreams[name] = &Upstream{Name: name, Balance: BalanceHashConsistent, Line: p.lines.line(uat)}
	}
}

// upstream decodes one [upstreams.NAME] table.
func (p *parser) upstream(at keyPath, name string, m map[string]any) *Upstream {
	u := &Upstream{Name: name, Balance: BalanceHashConsistent, Line: p.lines.line(at)}
	p.checkKeys(at, m, allUpstreamKeys, "in [upstreams.NAME]")
	if strings.TrimSpace(name) == "" {
		p.errorf(at, "upstream name must not be empty")
	}
	if v, ok := m["balance"]; ok {
		if s, ok := p.enum(at.key("balance"), v, balance.Names()...); ok {
			u.Balance = Balance(s)
		}
	}
	if v, ok := m["balance_factor"]; ok {
		if n, ok := p.count(at.key("balance_factor"), v, 0); ok && n < 100 {
			p.errorf(at.key("balance_factor"), "%d is below 100: balance_factor is the most a backend may hold, in percent of the average (HAProxy hash-balance-factor), e.g. 125", n)
		} else {
			u.BalanceFactor = n
		}
		if m, _ := balance.Get(string(u.Balance)); !m.Factor {
			p.errorf(at.key("balance_factor"), "balance %q takes no balance_factor (it bounds the load of a consistent hash: use hash-consistent or source-consistent)", u.Balance)
		}
	}
	if v, ok := m["proxy_protocol"]; ok {
		if s, ok := p.enum(at.key("proxy_protocol"), v, string(ProxyV1), string(ProxyV2), string(ProxyOff)); ok {
			u.ProxyProtocol = ProxyProtocol(s)
		}
	}
	v, ok := m["servers"]
	if !ok {
		p.errorf(at, `no servers: add servers = ["host:port", ...]`)
		return u
	}
	sat := at.key("servers")
	list, ok := v.([]any)
	if !ok {
		p.errorf(sat, `expected an array of server strings such as ["127.0.0.1:3001 weight=2"], got %s`, describe(v))
		return u
	}
	if len(list) == 0 {
		p.errorf(sat, "no servers in upstream (like nginx: \"no servers are inside upstream\")")
	}
	seen := map[string]int{}
	for i, e := range list {
		eat := sat.index(i)
		s, ok := p.str(eat, e)
		if !ok {
			continue
		}
		srv, errs := parseServer(s)
		for _, err := range errs {
			p.errorf(eat, "%v", err)
		}
		if len(errs) > 0 {
			continue
		}
		if j, dup := seen[srv.Name]; dup {
			p.errorf(eat, "duplicate server %q (also servers[%d]); use weight= instead of repeating a server", srv.Name, j)
			continue
		}
		seen[srv.Name] = i
		u.Servers = append(u.Servers, srv)
	}
	p.checkWeights(at, sat, u, len(list) > 0 && len(u.Servers) == len(list))
	if v, ok := m["source"]; ok {
		u.Source = p.sources(at.key("source"), v, u.Servers)
	}
	p.checkHAProxy(sat, u)
	p.upstreamOps(at, m, u)
	return u
}

// upstreamOps decodes health_check, resolver and resolve_interval.
func (p *parser) upstreamOps(at keyPath, m map[string]any, u *Upstream) {
	if v, ok := m["health_check"]; ok {
		if hm, ok := p.table(at.key("health_check"), v, "[upstreams.NAME.health_check]"); ok {
			u.HealthCheck = p.healthCheck(at.key("health_check"), hm)
		}
	}
	resolving := slices.ContainsFunc(u.Servers, func(s Server) bool { return s.Resolve })
	unused := func(key string) {
		if !resolving {
			p.errorf(at.key(key), "no server is marked resolve, so %s has no effect (add resolve to a server line with a host name, e.g. \"app.internal:3001 resolve\")", key)
		}
	}
	if v, ok := m["resolver"]; ok {
		u.Resolvers = p.resolvers(at.key("resolver"), v)
		unused("resolver")
	}
	if v, ok := m["resolve_interval"]; ok {
		if d, ok := p.duration(at.key("resolve_interval"), v, false, ""); ok {
			u.ResolveInterval = d
		}
		unused("resolve_interval")
	}
	for i, s := range u.Servers {
		if s.Service != "" && len(u.Resolvers) == 0 {
			p.errorf(at.key("servers").index(i), "server %q: service= reads SRV records with tether's own DNS client, so the upstream needs resolver = \"IP[:port]\" (as nginx needs resolver)", s.Name)
		}
	}
}

// healthCheck decodes one [upstreams.NAME.health_check] table.
func (p *parser) healthCheck(at keyPath, m map[string]any) HealthCheck {
	p.checkKeys(at, m, healthCheckKeys, "in [upstreams.NAME.health_check]")
	h := HealthCheck{Type: CheckTCP, Interval: defaultCheckInterval, Timeout: defaultCheckTimeout,
		Rise: defaultCheckRise, Fall: defaultCheckFall}
	if v, ok := m["type"]; ok {
		if s, ok := p.enum(at.key("type"), v, string(CheckTCP), string(CheckHTTP)); ok {
			h.Type = HealthCheckType(s)
		}
	}
	if v, ok := m["interval"]; ok {
		h.Interval, _ = p.duration(at.key("interval"), v, false, "")
	}
	if v, ok := m["timeout"]; ok {
		h.Timeout, _ = p.duration(at.key("timeout"), v, false, "")
	}
	if h.Interval > 0 && h.Timeout > h.Interval {
		p.errorf(at.key("timeout"), "timeout %v is longer than interval %v (a check must end before the next one starts)", h.Timeout, h.Interval)
	}
	if v, ok := m["rise"]; ok {
		h.Rise, _ = p.count(at.key("rise"), v, 1)
	}
	if v, ok := m["fall"]; ok {
		h.Fall, _ = p.count(at.key("fall"), v, 1)
	}
	if h.Type != CheckHTTP {
		for _, k := range httpCheckKeys {
			if _, ok := m[k]; ok {
				p.errorf(at.key(k), "only for type = \"http\" checks")
			}
		}
		return h
	}
	h.Path = defaultCheckPath
	if v, ok := m["path"]; ok {
		if s, ok := p.str(at.key("path"), v); ok {
			if !strings.HasPrefix(s, "/") || strings.ContainsFunc(s, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
				p.errorf(at.key("path"), "invalid request path %q (want an origin-form target such as \"/healthz\", without spaces)", s)
			} else {
				h.Path = s
			}
		}
	}
	if v, ok := m["host"]; ok {
		if s, ok := p.str(at.key("host"), v); ok {
			if s == "" || strings.ContainsFunc(s, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
				p.errorf(at.key("host"), "invalid Host header %q", s)
			} else {
				h.Host = s
			}
		}
	}
	h.ExpectStatus = []StatusRange{{200, 399}}
	if v, ok := m["expect_status"]; ok {
		if rs, ok := p.statusRanges(at.key("expect_status"), v); ok {
			h.ExpectStatus = rs
		}
	}
	return h
}

// statusRanges decodes expect_status: a status (200), a range ("200-299"),
// or an array of them.
func (p *parser) statusRanges(at keyPath, v any) ([]StatusRange, bool) {
	list, isList := v.([]any)
	if !isList {
		list = []any{v}
	}
	if len(list) == 0 {
		p.errorf(at, "empty list (want e.g. [200, \"300-399\"])")
		return nil, false
	}
	var out []StatusRange
	good := true
	for i, e := range list {
		eat := at
		if isList {
			eat = at.index(i)
		}
		r, err := statusRange(e)
		if err != nil {
			p.errorf(eat, "%v", err)
			good = false
			continue
		}
		out = append(out, r)
	}
	return out, good
}

// statusRange decodes one status code or "MIN-MAX" range in 100..599.
func statusRange(v any) (StatusRange, error) {
	const want = `want a status code from 100 to 599 or a range such as "200-399"`
	code := func(s string) (int, bool) {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		return n, err == nil && n >= 100 && n <= 599
	}
	switch v := v.(type) {
	case int64:
		if v < 100 || v > 599 {
			return StatusRange{}, fmt.Errorf("status %d out of range 100-599", v)
		}
		return StatusRange{int(v), int(v)}, nil
	case string:
		lo, hi, isRange := strings.Cut(v, "-")
		if !isRange {
			hi = lo
		}
		a, okA := code(lo)
		b, okB := code(hi)
		if !okA || !okB {
			return StatusRange{}, fmt.Errorf("invalid status %q (%s)", v, want)
		}
		if a > b {
			return StatusRange{}, fmt.Errorf("invalid status range %q: %d > %d", v, a, b)
		}
		return StatusRange{a, b}, nil
	}
	return StatusRange{}, fmt.Errorf("expected a status code, got %s (%s)", describe(v), want)
}

// resolvers decodes resolver: one address or an array of addresses, each
// an IP literal with an optional port (default 53): "10.0.0.2",
// "127.0.0.1:5353", "[::1]:53". Names are rejected, as nginx does not
// resolve its resolver either.
func (p *parser) resolvers(at keyPath, v any) []netip.AddrPort {
	list, isList := v.([]any)
	if !isList {
		list = []any{v}
	}
	if isList && len(list) == 0 {
		p.errorf(at, "empty list (want e.g. \"127.0.0.1:53\")")
	}
	var out []netip.AddrPort
	for i, e := range list {
		eat := at
		if isList {
			eat = at.index(i)
		}
		s, ok := p.str(eat, e)
		if !ok {
			continue
		}
		a, err := parseResolverAddr(s)
		if err != nil {
			p.errorf(eat, "invalid resolver address %q: %v", s, err)
			continue
		}
		out = append(out, a)
	}
	return out
}

// parseResolverAddr parses "IP", "IP:PORT" or "[IPv6]:PORT"; a bare IPv6
// literal is allowed too. The port defaults to 53.
func parseResolverAddr(s string) (netip.AddrPort, error) {
	if a, err := netip.ParseAddr(s); err == nil {
		if a.Zone() != "" {
			return netip.AddrPort{}, fmt.Errorf("zones are not supported")
		}
		return netip.AddrPortFrom(a, defaultResolverPort), nil
	}
	host, port, bracketed, err := splitHostPort(s)
	if err != nil {
		return netip.AddrPort{}, err
	}
	a, err := parseHostIP(host, bracketed)
	if err != nil {
		return netip.AddrPort{}, err
	}
	if !a.IsValid() {
		return netip.AddrPort{}, fmt.Errorf("%q is not an IP address (the resolver itself is not resolved)", host)
	}
	if a.Zone() != "" {
		return netip.AddrPort{}, fmt.Errorf("zones are not supported")
	}
	n, err := parsePort(port)
	if err != nil {
		return netip.AddrPort{}, err
	}
	return netip.AddrPortFrom(a, n), nil
}

// checkWeights applies ngx_stream_upstream_init_round_robin's rule that an
// upstream needs a non-backup server (complete says every server line was
// valid, so their absence is not a consequence of other problems), and
// tether's bound on the total weight of the primary servers.
func (p *parser) checkWeights(at, sat keyPath, u *Upstream, complete bool) {
	total, primaries := 0, 0
	for _, s := range u.Servers {
		if !s.Backup {
			total += s.Weight
			primaries++
		}
	}
	if complete && primaries == 0 {
		p.errorf(sat, "no servers in upstream other than backup ones (like nginx: at least one server must not be a backup)")
	}
	if total > maxWeight {
		p.errorf(sat, "total weight of the non-backup servers is %d, more than %d", total, maxWeight)
	}
}

// checkHAProxy applies HAProxy's rules to the server lines of a method that
// reproduces HAProxy: weight at most 256 and unique ids; the other methods
// take no id=.
func (p *parser) checkHAProxy(sat keyPath, u *Upstream) {
	m, _ := balance.Get(string(u.Balance))
	ids := map[int]int{}
	for i, s := range u.Servers {
		switch {
		case s.ID != 0 && !m.IDs:
			p.errorf(sat.index(i), "server %q: id=%d applies to the HAProxy methods only (balance = \"source\" or \"source-consistent\")", s.Name, s.ID)
		case m.IDs && s.Weight > balance.MaxHAProxyWeight:
			p.errorf(sat.index(i), "server %q: weight %d is more than HAProxy's %d", s.Name, s.Weight, balance.MaxHAProxyWeight)
		}
		if j, dup := ids[s.ID]; dup && s.ID != 0 {
			p.errorf(sat.index(i), "server %q: id=%d already given to servers[%d]", s.Name, s.ID, j)
		}
		ids[s.ID] = i
	}
}
