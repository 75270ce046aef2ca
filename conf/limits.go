package conf

import (
	"fmt"
	"net/netip"
	"os"
	"strings"
	"time"
)

// Defaults of the top-level limits and the admin and PROXY-in tables.
const (
	defaultDrainSpread    = 5 * time.Second
	defaultMaxHandshakes  = 1024
	defaultFDReserve      = 64
	defaultAdminListen    = "127.0.0.1:9090"
	defaultProxyInTimeout = 5 * time.Second
)

var (
	adminKeys     = []string{"listen", "pprof", "hosts", "token_file"}
	proxyInKeys   = []string{"trusted", "timeout"}
	forwardedKeys = []string{"trusted"}
	certKeys      = []string{"cert", "key"}
)

// limits decodes the top-level drain_spread, max_conns, max_handshakes, fd_reserve, max_memory
// and engine.
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
	if v, ok := raw["fd_reserve"]; ok {
		cfg.FDReserve, _ = p.count(root.key("fd_reserve"), v, 0)
	}
	if v, ok := raw["max_memory"]; ok {
		if n, err := parseMemory(v); err != nil {
			p.errorf(root.key("max_memory"), "%v", err)
		} else {
			cfg.MaxMemory = n
		}
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
	if v, ok := m["hosts"]; ok {
		a.Hosts = p.hostNames(at.key("hosts"), v)
	}
	if v, ok := m["token_file"]; ok {
		if s, ok := p.str(at.key("token_file"), v); ok {
			a.TokenFile, a.Token = p.token(at.key("token_file"), s)
		}
	}
	return a
}

// hostNames decodes [admin] hosts: an array of DNS names or IP addresses, without ports.
func (p *parser) hostNames(at keyPath, v any) []string {
	list, ok := v.([]any)
	if !ok {
		p.errorf(at, "expected an array of host names, got %s", describe(v))
		return nil
	}
	var out []string
	for i, e := range list {
		s, ok := p.str(at.index(i), e)
		if !ok {
			continue
		}
		if !validHostName(s) {
			p.errorf(at.index(i), "invalid host name %q: want a name such as \"proxy.example.com\" or an address, without scheme or port", s)
			continue
		}
		out = append(out, strings.ToLower(s))
	}
	return out
}

// validHostName reports whether s is an IP address or a DNS name of letters, digits, '-' and '.'.
func validHostName(s string) bool {
	if _, err := netip.ParseAddr(s); err == nil {
		return true
	}
	if s == "" || len(s) > 253 {
		return false
	}
	for _, label := range strings.Split(strings.TrimSuffix(s, "."), ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return true
}

// token reads [admin] token_file: the path resolved against the configuration's directory and
// the token in it, which must be one word of printable ASCII (it is sent in an HTTP header).
func (p *parser) token(at keyPath, path string) (resolved, token string) {
	resolved = p.resolveFile(at, path, "token file")
	b, err := os.ReadFile(resolved)
	if err != nil {
		return resolved, "" // resolveFile reported it
	}
	token = strings.TrimSpace(string(b))
	switch {
	case token == "":
		p.errorf(at, "token file %q is empty", path)
	case strings.IndexFunc(token, func(r rune) bool { return r <= ' ' || r > '~' }) >= 0:
		p.errorf(at, "token file %q holds white space or characters other than printable ASCII; want the token alone", path)
	}
	return resolved, token
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
