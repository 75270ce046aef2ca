package haproxyconf

import (
	"bytes"
	"fmt"
	"strings"

	"github.com/tether-proxy/tether/conf"
)

// nameListeners names listeners after their section and port: "fe-443", "fe-443-2".
func (t *translator) nameListeners() {
	taken := map[string]bool{}
	for _, l := range t.listeners {
		name := l.base + "-" + l.port
		for i := 2; taken[name]; i++ {
			name = fmt.Sprintf("%s-%s-%d", l.base, l.port, i)
		}
		taken[name] = true
		l.name = name
	}
}

// writeTOML writes the configuration.
func (t *translator) writeTOML() []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "# Imported from %s by `tether import-haproxy`.\n", oneLine(t.cfg.File))
	b.WriteString("# Every HAProxy line that was not carried over was listed on stderr as FILE:LINE: keyword: why.\n")
	b.WriteString("# Server order, weights and ids are HAProxy's: balance source depends on them.\n")
	if t.maxConns > 0 {
		fmt.Fprintf(&b, "\nmax_conns = %d  # global maxconn\n", t.maxConns)
	}
	for _, l := range t.listeners {
		writeListener(&b, l, t.dualStack(l))
	}
	for _, u := range t.upOrder {
		writeUpstream(&b, u)
	}
	return b.Bytes()
}

func writeListener(b *bytes.Buffer, l *listenerOut, dualStack bool) {
	fmt.Fprintf(b, "\n[[listeners]]\n# HAProxy: %s %s (%s), %s (%s)\n", l.sec.Kind(), oneLine(l.sec.Name()), pos(l.sec.Header), oneLine(l.bind.String()), pos(l.bind))
	fmt.Fprintf(b, "name = %s\n", conf.QuoteString(l.name))
	fmt.Fprintf(b, "listen = %s\n", conf.QuoteString(l.addr))
	if dualStack {
		b.WriteString("ipv6only = false  # HAProxy binds :: dual-stack: IPv4 clients too, hashed as ::ffff:a.b.c.d like HAProxy\n")
	}
	fmt.Fprintf(b, "upstream = %s\n", conf.QuoteString(l.upstream.name))
	fmt.Fprintf(b, "preamble = %s\n", conf.QuoteString(l.preamble))
	if l.maxConns > 0 {
		fmt.Fprintf(b, "max_conns = %d  # maxconn\n", l.maxConns)
	}
	if l.proxyIn {
		b.WriteString("proxy_protocol_in = { trusted = [\"0.0.0.0/0\", \"::/0\"] }  # accept-proxy: HAProxy trusts every peer; narrow this\n")
	}
	if l.cert != "" {
		fmt.Fprintf(b, "[listeners.tls]\ncert = %s  # ssl crt: one PEM with certificate and key\nkey = %s\n", conf.QuoteString(l.cert), conf.QuoteString(l.cert))
		if len(l.curves) > 0 {
			quoted := make([]string, len(l.curves))
			for i, c := range l.curves {
				quoted[i] = conf.QuoteString(c)
			}
			fmt.Fprintf(b, "curves = [%s]  # bind curves\n", strings.Join(quoted, ", "))
		}
	}
	if len(l.timeouts) > 0 {
		b.WriteString("[listeners.timeouts]\n")
		for _, to := range l.timeouts {
			fmt.Fprintf(b, "%s = %s  # %s\n", to.key, conf.QuoteString(to.value), oneLine(to.comment))
		}
	}
}

func writeUpstream(b *bytes.Buffer, u *upstreamOut) {
	fmt.Fprintf(b, "\n[upstreams.%s]\n", conf.Key(u.name))
	fmt.Fprintf(b, "# HAProxy: %s %s (%s)\n", u.src.sec.Kind(), oneLine(u.name), pos(u.src.sec.Header))
	for _, c := range u.comments {
		fmt.Fprintf(b, "# %s\n", oneLine(c))
	}
	fmt.Fprintf(b, "balance = %s\n", conf.QuoteString(u.balance))
	if u.factor > 0 {
		fmt.Fprintf(b, "balance_factor = %d  # hash-balance-factor\n", u.factor)
	}
	if u.proxyProtocol != "" {
		fmt.Fprintf(b, "proxy_protocol = %s  # send-proxy\n", conf.QuoteString(u.proxyProtocol))
	}
	b.WriteString("servers = [\n")
	for _, s := range u.servers {
		fmt.Fprintf(b, "  %s,  # %s\n", conf.QuoteString(s.line), oneLine(s.comment))
	}
	b.WriteString("]\n")
	if c := u.check; c != nil {
		fmt.Fprintf(b, "[upstreams.%s.health_check]\n# HAProxy: %s\n", conf.Key(u.name), oneLine(c.from))
		fmt.Fprintf(b, "type = %s\ninterval = %s\ntimeout = %s\nrise = %d\nfall = %d\n",
			conf.QuoteString(c.kind), conf.QuoteString(formatDuration(c.interval)), conf.QuoteString(formatDuration(c.timeout)), c.rise, c.fall)
		if c.kind == "http" {
			fmt.Fprintf(b, "path = %s\n", conf.QuoteString(c.path))
		}
	}
}
