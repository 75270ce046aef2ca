package nginxconf

import (
	"fmt"
	"net/netip"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/tether-proxy/tether/tlsterm"
)

// tlsOut is a listener's [listeners.tls] table.
type tlsOut struct {
	certs      []certPair
	clientCA   string
	clientAuth string
	ticketKeys []string // ssl_session_ticket_key files, in order (the first encrypts)
	curves     []string // ssl_ecdh_curve's groups, as tlsterm.GroupName spells them; nil: the default
}

type certPair struct{ cert, key string }

// proxyInOut is a listener's proxy_protocol_in table.
type proxyInOut struct {
	trusted []string
	timeout string
	comment string
}

// tlsFor collects a server's certificates (ssl_certificate and ssl_certificate_key pair up
// in order, as nginx pairs them), client certificate settings and, in stream, the handshake
// timeout. It returns nil when there is no usable certificate.
func (t *translator) tlsFor(set *settings) *tlsOut {
	if set.tlsDone {
		return set.tls
	}
	set.tlsDone = true
	s := set.srvScope
	certs, keys := s.nearest("ssl_certificate"), s.nearest("ssl_certificate_key")
	out := &tlsOut{}
	for i, c := range certs {
		if i >= len(keys) {
			t.note(c, "no matching ssl_certificate_key; not carried over")
			continue
		}
		cp, ok1 := t.filePath(c)
		kp, ok2 := t.filePath(keys[i])
		if !ok1 || !ok2 {
			continue
		}
		if i > 0 {
			t.note(c, "carried over as an additional certificate; tether chooses among certificates by the SNI name, not by key type, so of two certificates for the same names the first is always used")
		} else {
			t.use(c)
		}
		t.use(keys[i])
		out.certs = append(out.certs, certPair{cp, kp})
	}
	for _, k := range keys[min(len(certs), len(keys)):] {
		t.note(k, "no matching ssl_certificate; not carried over")
	}
	if len(out.certs) == 0 {
		return nil
	}
	ca, verify := last(s.nearest("ssl_client_certificate")), last(s.nearest("ssl_verify_client"))
	mode := ""
	if verify != nil && len(verify.Args) == 1 {
		mode = verify.Args[0]
	}
	switch mode {
	case "on", "optional":
		if ca == nil {
			t.note(verify, "no ssl_client_certificate (nginx refuses this); not carried over")
			break
		}
		if p, ok := t.filePath(ca); ok {
			t.use(ca, verify)
			out.clientCA = p
			out.clientAuth = map[string]string{"on": "require", "optional": "optional"}[mode]
		}
	case "off", "":
		if verify != nil {
			t.use(verify)
		}
		if ca != nil {
			t.note(ca, "without ssl_verify_client nginx asks for no client certificate; not carried over")
		}
	default:
		t.note(verify, "%s is not supported: tether verifies client certificates against client_ca (require or optional); not carried over", mode)
	}
	for _, d := range s.nearest("ssl_session_ticket_key") {
		if p, ok := t.filePath(d); ok {
			t.note(d, "carried over as session_ticket_key: tether processes with this file resume each other's TLS sessions, but not nginx's (Go and OpenSSL seal tickets differently), so a client moving between nginx and tether pays one full handshake")
			out.ticketKeys = append(out.ticketKeys, p)
		}
	}
	if d := last(s.nearest("ssl_ecdh_curve")); d != nil {
		out.curves = t.curves(d)
	}
	if set.ctx == "stream" {
		t.timeout(s, "ssl_handshake_timeout", "handshake", set, "")
	}
	set.tls = out
	return out
}

// curves translates ssl_ecdh_curve (OpenSSL's colon-separated group list) to curves. "auto"
// and a list with a group Go does not have keep tether's default, which offers X25519MLKEM768
// besides X25519 and the NIST curves.
func (t *translator) curves(d *Directive) []string {
	if len(d.Args) != 1 || d.Args[0] == "auto" {
		t.note(d, "tether's default groups apply (X25519MLKEM768, X25519, P-256, P-384, P-521 and the other hybrids)")
		return nil
	}
	names, err := tlsterm.GroupList(d.Args[0])
	if err != nil {
		t.note(d, "%v; tether's default groups apply", err)
		return nil
	}
	t.note(d, "carried over as curves; Go prefers post-quantum hybrids among them whatever the order")
	return names
}

// filePath resolves a certificate or key path like nginx (relative to the configuration
// prefix) and makes it absolute, since the TOML may be written anywhere.
func (t *translator) filePath(d *Directive) (string, bool) {
	if len(d.Args) != 1 {
		t.note(d, "expected one file; not carried over")
		return "", false
	}
	p := d.Args[0]
	switch {
	case strings.Contains(p, "$"):
		t.note(d, "not supported: tether loads certificates from fixed files (it picks one by SNI itself); not carried over")
		return "", false
	case strings.HasPrefix(p, "data:") || strings.HasPrefix(p, "engine:"):
		t.note(d, "not supported: tether loads certificates and keys from PEM files; not carried over")
		return "", false
	}
	if !filepath.IsAbs(p) {
		p = filepath.Join(t.cfg.Prefix, p)
	}
	return p, true
}

// mergeTLS combines the certificates of server blocks sharing an address; a's come first (the
// default certificate).
func mergeTLS(a, b *tlsOut) *tlsOut {
	switch {
	case a == nil:
		return b
	case b == nil:
		return a
	}
	out := &tlsOut{clientCA: a.clientCA, clientAuth: a.clientAuth, ticketKeys: a.ticketKeys, curves: a.curves}
	if len(out.ticketKeys) == 0 {
		out.ticketKeys = b.ticketKeys
	}
	seen := map[string]bool{}
	for _, c := range append(append([]certPair{}, a.certs...), b.certs...) {
		if !seen[c.cert] {
			seen[c.cert] = true
			out.certs = append(out.certs, c)
		}
	}
	return out
}

// proxyIn carries `listen ... proxy_protocol` and the realip module's set_real_ip_from over as
// proxy_protocol_in: the PROXY header's source address stands for the client when the peer
// is trusted, as nginx's $remote_addr does after realip (stream: ngx_stream_realip_module;
// http: real_ip_header proxy_protocol).
func (t *translator) proxyIn(set *settings, ld *Directive) *proxyInOut {
	s := set.srvScope
	out := &proxyInOut{}
	reals := s.nearest("set_real_ip_from")
	for _, d := range reals {
		for _, a := range d.Args {
			p, err := trustedPrefix(a)
			if err != nil {
				t.note(d, "%s: %v; not carried over", a, err)
				continue
			}
			t.use(d)
			out.trusted = append(out.trusted, p)
		}
	}
	fromHeader := ""
	if set.ctx == "http" {
		rh := last(s.nearest("real_ip_header"))
		switch {
		case rh != nil && len(rh.Args) == 1 && rh.Args[0] == "proxy_protocol":
			t.use(rh)
		case len(reals) > 0 && rh != nil:
			fromHeader = strings.Join(rh.Args, " ")
			t.note(rh, "not supported yet: nginx takes the client address from the %s header of trusted peers, tether from their PROXY header; tether hashes a different address, so clients WILL move", fromHeader)
		case len(reals) > 0:
			fromHeader = "X-Real-IP"
			t.note(reals[0], "not supported yet: without real_ip_header nginx takes the client address from the X-Real-IP header of trusted peers, tether from their PROXY header; tether hashes a different address, so clients WILL move")
		}
	}
	switch {
	case len(out.trusted) > 0:
		out.comment = "listen ... proxy_protocol + set_real_ip_from"
	case set.target.keyProxyProtocol:
		out.trusted = []string{"0.0.0.0/0", "::/0"}
		out.comment = "nginx hashed $proxy_protocol_addr and read the PROXY header of any peer on this listen"
	default:
		out.trusted = []string{"0.0.0.0/0", "::/0"}
		out.comment = "nginx read the PROXY header of any peer on this listen"
		t.note(ld, "parameter proxy_protocol without set_real_ip_from: nginx hashes the address of the peer that sent the PROXY header (the load balancer), tether the client address in the header (every peer is trusted: add the load balancers to trusted); clients WILL move")
	}
	if d := last(s.nearest("proxy_protocol_timeout")); d != nil {
		if dur, err := ParseTime(strings.Join(d.Args, " "), false); err == nil && dur > 0 && len(d.Args) == 1 {
			t.use(d)
			out.timeout = formatDuration(dur)
		} else {
			t.note(d, "cannot read %q; not carried over", strings.Join(d.Args, " "))
		}
	}
	return out
}

// warnRealIP reports set_real_ip_from on a listen without proxy_protocol.
func (t *translator) warnRealIP(set *settings, ld *Directive) {
	reals := set.srvScope.nearest("set_real_ip_from")
	if len(reals) == 0 || t.marks[reals[0]] {
		return
	}
	if set.ctx == "stream" {
		t.note(reals[0], "has no effect without listen ... proxy_protocol (nginx stream takes the real address only from a PROXY header); not carried over")
		return
	}
	header := "X-Real-IP"
	if rh := last(set.srvScope.nearest("real_ip_header")); rh != nil {
		header = strings.Join(rh.Args, " ")
		t.markAll([]*Directive{rh})
	}
	t.note(reals[0], "not supported yet: nginx takes the client address from the %s header of trusted peers; tether hashes the connecting address (or a trusted PROXY header), so clients behind those peers WILL move", header)
}

// trustedPrefix reads a set_real_ip_from address or CIDR; host bits are cleared like nginx
// does (with a warning there).
func trustedPrefix(s string) (string, error) {
	if strings.HasPrefix(s, "unix:") {
		return "", fmt.Errorf("unix sockets are not supported")
	}
	if a, err := netip.ParseAddr(s); err == nil {
		return a.Unmap().String(), nil
	}
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return "", fmt.Errorf("not an address or CIDR network (host names are not supported)")
	}
	return p.Masked().String(), nil
}

// limitConn carries `limit_conn ZONE N` over as max_conns_per_client when the zone is keyed
// by the client address (limit_conn_zone $binary_remote_addr or $remote_addr).
func (t *translator) limitConn(s *scope, set *settings) {
	for _, lc := range s.nearest("limit_conn") {
		if len(lc.Args) != 2 {
			t.note(lc, "expected ZONE NUMBER; not carried over")
			continue
		}
		n, err := strconv.Atoi(lc.Args[1])
		if err != nil || n < 1 {
			t.note(lc, "invalid number %q; not carried over", lc.Args[1])
			continue
		}
		var zone *Directive
		for _, z := range s.nearest("limit_conn_zone") {
			if len(z.Args) != 2 {
				continue
			}
			for _, a := range z.Args[1:] {
				name, _, _ := strings.Cut(strings.TrimPrefix(a, "zone="), ":")
				if strings.HasPrefix(a, "zone=") && name == lc.Args[0] {
					zone = z
				}
			}
		}
		switch {
		case zone == nil:
			t.note(lc, "no limit_conn_zone %s (nginx refuses this); not carried over", lc.Args[0])
		case zone.Args[0] == "$binary_remote_addr" || zone.Args[0] == "$remote_addr":
			t.use(lc, zone)
			if set.perConn == 0 || n < set.perConn {
				set.perConn = n
			}
		default:
			t.note(lc, "limits connections per %s; tether caps them per client address (max_conns_per_client) or per listener (max_conns) only; not carried over", zone.Args[0])
		}
	}
}
