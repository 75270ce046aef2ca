package nginxconf

import (
	"bytes"
	"fmt"
	"slices"
	"strings"

	"github.com/tether-proxy/tether/conf"
)

// timeoutOrder is the order of [listeners.timeouts] keys in tether's documentation.
var timeoutOrder = []string{"handshake", "preamble", "connect", "idle", "half_close"}

// nameListeners names listeners after their first plain server_name (http) or their upstream,
// plus the port: "app-443", "example.com-443-ipv6".
func (t *translator) nameListeners() {
	taken := map[string]bool{}
	for _, l := range t.listeners {
		base := ""
		for _, n := range l.set.names {
			if n != "" && n != "_" && !strings.ContainsAny(n, "*~$") {
				base = n
				break
			}
		}
		switch {
		case base != "":
		case l.set.target.implicit:
			base = l.set.ctx
		default:
			base = l.set.target.name
		}
		name := base + "-" + l.listen.port
		if l.listen.ipv6 {
			name += "-ipv6"
		}
		for i := 2; taken[name]; i++ {
			name = fmt.Sprintf("%s-%s-%d", base, l.listen.port, i)
		}
		taken[name] = true
		l.name = name
	}
}

// writeTOML writes the configuration.
func (t *translator) writeTOML(ups []*variant) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "# Imported from %s by `tether import-nginx`.\n", oneLine(t.cfg.File))
	b.WriteString("# Every nginx directive that was not carried over was listed on stderr as FILE:LINE: directive: why.\n")
	b.WriteString("# Server names and their order are copied verbatim: tether's hash ring depends on them.\n")
	fmt.Fprintf(&b, "# Relative certificate paths were resolved against %s, as nginx does.\n", oneLine(t.cfg.Prefix))
	if t.drain != "" {
		fmt.Fprintf(&b, "\ndrain_timeout = %s  # worker_shutdown_timeout\n", conf.QuoteString(t.drain))
	}
	for _, l := range t.listeners {
		t.writeListener(&b, l)
	}
	for _, v := range ups {
		writeUpstream(&b, v)
	}
	return b.Bytes()
}

func (t *translator) writeListener(b *bytes.Buffer, l *listenerOut) {
	set := l.set
	fmt.Fprintf(b, "\n[[listeners]]\n")
	fmt.Fprintf(b, "# nginx: %s server at %s, %s (%s)\n", set.ctx, pos(set.server), oneLine(l.listen.d.String()), pos(l.listen.d))
	for _, m := range l.merged {
		fmt.Fprintf(b, "# nginx: also the %s server at %s on the same address\n", set.ctx, pos(m))
	}
	for _, c := range set.comments {
		fmt.Fprintf(b, "# %s\n", oneLine(c))
	}
	fmt.Fprintf(b, "name = %s\n", conf.QuoteString(l.name))
	fmt.Fprintf(b, "listen = %s\n", conf.QuoteString(l.listen.addr))
	if l.listen.ipv6 && !l.listen.ipv6only {
		b.WriteString("ipv6only = false  # listen ... ipv6only=off: IPv4 clients too, hashed as ::ffff:a.b.c.d like nginx\n")
	}
	fmt.Fprintf(b, "upstream = %s\n", conf.QuoteString(l.upstream.name))
	fmt.Fprintf(b, "preamble = %s\n", conf.QuoteString(set.preamble))
	if k := l.upstream.def.hashKey; k != "" {
		fmt.Fprintf(b, "hash_key = %s  # the upstream's hash key; a request without it is hashed by client address (nginx balances it round robin)\n", conf.QuoteString(k))
	}
	if set.maxPre > 0 {
		fmt.Fprintf(b, "max_preamble = %d  # large_client_header_buffers\n", set.maxPre)
	}
	if set.forwarded != "" {
		fmt.Fprintf(b, "forwarded_headers = {}  # %s\n", oneLine(set.forwarded))
	}
	if set.perConn > 0 {
		fmt.Fprintf(b, "max_conns_per_client = %d  # limit_conn on $binary_remote_addr\n", set.perConn)
	}
	if pi := l.proxyIn; pi != nil {
		fmt.Fprintf(b, "proxy_protocol_in = { trusted = %s", tomlStrings(pi.trusted))
		if pi.timeout != "" {
			fmt.Fprintf(b, ", timeout = %s", conf.QuoteString(pi.timeout))
		}
		fmt.Fprintf(b, " }  # %s\n", oneLine(pi.comment))
	}
	if l.tls != nil {
		b.WriteString("[listeners.tls]\n")
		first := l.tls.certs[0]
		fmt.Fprintf(b, "cert = %s\n", conf.QuoteString(first.cert))
		fmt.Fprintf(b, "key = %s\n", conf.QuoteString(first.key))
		if len(l.tls.certs) > 1 {
			b.WriteString("certs = [  # chosen by SNI; the first certificate is the default\n")
			for _, c := range l.tls.certs[1:] {
				fmt.Fprintf(b, "  { cert = %s, key = %s },\n", conf.QuoteString(c.cert), conf.QuoteString(c.key))
			}
			b.WriteString("]\n")
		}
		if l.tls.clientCA != "" {
			fmt.Fprintf(b, "client_ca = %s\n", conf.QuoteString(l.tls.clientCA))
			fmt.Fprintf(b, "client_auth = %s\n", conf.QuoteString(l.tls.clientAuth))
		}
		if len(l.tls.ticketKeys) > 0 {
			fmt.Fprintf(b, "session_ticket_key = %s\n", tomlStrings(l.tls.ticketKeys))
		}
		if len(l.tls.curves) > 0 {
			fmt.Fprintf(b, "curves = %s\n", tomlStrings(l.tls.curves))
		}
	}
	if len(set.timeouts) > 0 {
		b.WriteString("[listeners.timeouts]\n")
		ts := slices.Clone(set.timeouts)
		slices.SortStableFunc(ts, func(x, y timeoutOut) int {
			return slices.Index(timeoutOrder, x.key) - slices.Index(timeoutOrder, y.key)
		})
		for _, to := range ts {
			fmt.Fprintf(b, "%s = %s  # %s\n", to.key, conf.QuoteString(to.value), oneLine(to.comment))
		}
	}
}

func writeUpstream(b *bytes.Buffer, v *variant) {
	u := v.def
	fmt.Fprintf(b, "\n[upstreams.%s]\n", conf.Key(v.name))
	for _, c := range u.comments {
		fmt.Fprintf(b, "# %s\n", oneLine(c))
	}
	fmt.Fprintf(b, "balance = %s\n", conf.QuoteString(u.balance))
	if v.proxyProtocol != "" {
		fmt.Fprintf(b, "proxy_protocol = %s  # proxy_protocol on (nginx sends v1)\n", conf.QuoteString(v.proxyProtocol))
	}
	b.WriteString("servers = [\n")
	for _, s := range u.servers {
		fmt.Fprintf(b, "  %s,\n", conf.QuoteString(s))
	}
	b.WriteString("]\n")
}

func tomlStrings(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = conf.QuoteString(s)
	}
	return "[" + strings.Join(q, ", ") + "]"
}
