package conf

import "strings"

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
	p.checkKeys(at, m, upstreamKeys, "in [upstreams.NAME]")
	if strings.TrimSpace(name) == "" {
		p.errorf(at, "upstream name must not be empty")
	}
	if v, ok := m["balance"]; ok {
		if s, ok := p.enum(at.key("balance"), v, string(BalanceHashConsistent), string(BalanceHash)); ok {
			u.Balance = Balance(s)
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
	return u
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
