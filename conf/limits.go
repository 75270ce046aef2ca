package conf

import (
	"fmt"
	"net/netip"
	"time"
)

// Defaults of the top-level limits and the admin and PROXY-in tables.
const (
	defaultDrainSpread    = 5 * time.Second
	defaultMaxHandshakes  = 1024
	defaultAdminListen    = "127.0.0.1:9090"
	defaultProxyInTimeout = 5 * time.Second
)

var (
	adminKeys     = []string{"listen", "pprof"}
	proxyInKeys   = []string{"trusted", "timeout"}
	forwardedKeys = []string{"trusted"}
	certKeys      = []string{"cert", "key"}
)

// limits decodes the top-level drain_spread, max_conns, max_handshakes and engine.
func (p *parser) limits(root keyPath, raw map[string]any, cfg *Config) {
	if v, ok := raw["drain_spread"]; ok {
		if d, ok := p.duration(root.key("drain_spread"), v, true, ""); ok {
			cfg.DrainSpread = d
		}
	}
	if v, ok := raw["max_conns"]; ok {
		cfg.MaxConns, _ = p.count(root.key("max_conns"), v, 0)
	}
	if v, ok := raw["max_handshakes"]; ok {
		cfg.MaxHandshakes, _ = p.count(root.key("max_handshakes"), v, 1)
	}
	if v, ok := raw["engine"]; ok {
		if e, ok := p.enum(root.key("engine"), v, EngineEventLoop, EngineGoroutines); ok {
			cfg.Engine = e
		}
	}
}

// count decodes a non-negative integer of at least min.
func (p *parser) count(at keyPath, v any, min int64) (int, bool) {
	n, ok := v.(int64)
	switch {
	case !ok:
		p.errorf(at, "expected an integer, got %s", describe(v))
		return 0, false
	case n < min || n > 1<<31-1:
		p.errorf(at, "%d out of range %d-%d", n, min, 1<<31-1)
		return 0, false
	}
	return int(n), true
}

// admin decodes the [admin] table.
func (p *parser) admin(at keyPath, m map[string]any) *Admin {
	p.checkKeys(at, m, adminKeys, "in [admin]")
	a := &Admin{Listen: defaultAdminListen}
	if v, ok := m["listen"]; ok {
		if s, ok := p.str(at.key("listen"), v); ok {
			a.Listen = s
		}
	}
	addr, err := parseListenAddr(a.Listen)
	if err != nil {
		p.errorf(at.key("listen"), "invalid address %q: %v", a.Listen, err)
	}
	a.Addr = addr
	if v, ok := m["pprof"]; ok {
		if b, ok := v.(bool); ok {
			a.Pprof = b
		} else {
			p.errorf(at.key("pprof"), "expected a boolean, got %s", describe(v))
		}
	}
	return a
}

// proxyIn decodes a listener's proxy_protocol_in table.
func (p *parser) proxyIn(at keyPath, m map[string]any) *ProxyIn {
	p.checkKeys(at, m, proxyInKeys, "in proxy_protocol_in")
	pi := &ProxyIn{Timeout: defaultProxyInTimeout}
	v, ok := m["trusted"]
	if !ok {
		p.errorf(at, `missing required key "trusted" (the networks allowed to send PROXY headers, e.g. ["10.0.0.0/8"])`)
	} else {
		pi.Trusted = p.networks(at.key("trusted"), v, true)
	}
	if v, ok := m["timeout"]; ok {
		if d, ok := p.duration(at.key("timeout"), v, false, ""); ok {
			pi.Timeout = d
		}
	}
	return pi
}

// forwarded decodes a listener's forwarded_headers table.
func (p *parser) forwarded(at keyPath, m map[string]any) *Forwarded {
	p.checkKeys(at, m, forwardedKeys, "in forwarded_headers")
	f := &Forwarded{}
	if v, ok := m["trusted"]; ok {
		f.Trusted = p.networks(at.key("trusted"), v, false)
	}
	return f
}

// networks decodes an array of networks (CIDRs or single addresses).
func (p *parser) networks(at keyPath, v any, required bool) []netip.Prefix {
	var out []netip.Prefix
	list, isList := v.([]any)
	if !isList {
		p.errorf(at, "expected an array of networks, got %s", describe(v))
	}
	if isList && len(list) == 0 && required {
		p.errorf(at, "must name at least one network")
	}
	for i, e := range list {
		s, ok := p.str(at.index(i), e)
		if !ok {
			continue
		}
		pfx, err := parsePrefix(s)
		if err != nil {
			p.errorf(at.index(i), "invalid network %q: %v", s, err)
			continue
		}
		out = append(out, pfx)
	}
	return out
}

// parsePrefix accepts a CIDR ("10.0.0.0/8") or a single address (a /32 or /128).
func parsePrefix(s string) (netip.Prefix, error) {
	if a, err := netip.ParseAddr(s); err == nil {
		return netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()), nil
	}
	pfx, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("want an address or a CIDR network such as 10.0.0.0/8")
	}
	if pfx != pfx.Masked() {
		return netip.Prefix{}, fmt.Errorf("host bits are set; did you mean %s?", pfx.Masked())
	}
	return pfx, nil
}
