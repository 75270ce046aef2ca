package nginxconf

import (
	"net/netip"
	"strconv"
	"strings"
)

// listenSpec is one nginx listen directive in tether's terms.
type listenSpec struct {
	d             *Directive
	addr          string // tether listen address: IP literal and port
	ip            netip.Addr
	port          string
	ipv6          bool
	ipv6only      bool // meaningful for IPv6 only; nginx's default is on
	ssl           bool
	proxyProtocol bool
	defaultServer bool
}

// parseListen reads a listen directive like ngx_http_core_listen / ngx_stream_core_listen
// (ngx_parse_url with listen = 1): "PORT", "ADDR", "ADDR:PORT", "*:PORT", "[IPV6]:PORT";
// http defaults the port to 80, stream requires one. Parameters tether has no use for are
// reported; those it cannot honour at all (udp, quic, unix sockets, host names other than
// localhost) make the listen unusable.
func (t *translator) parseListen(d *Directive, ctx string) (listenSpec, bool) {
	ls := listenSpec{d: d, ipv6only: true}
	if len(d.Args) == 0 {
		t.note(d, "no address; not carried over")
		return ls, false
	}
	host, port, ok := splitListen(d.Args[0])
	switch {
	case strings.HasPrefix(d.Args[0], "unix:"):
		t.note(d, "not supported: tether listens on TCP addresses only; this listen is not carried over")
		return ls, false
	case !ok:
		t.note(d, "cannot read address %q; this listen is not carried over", d.Args[0])
		return ls, false
	case port == "" && ctx == "stream":
		t.note(d, "no port (nginx requires one in stream); this listen is not carried over")
		return ls, false
	case port == "":
		port = "80"
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 1 || n > 65535 || !isDigits(port) {
		t.note(d, "invalid port %q; this listen is not carried over", port)
		return ls, false
	}
	port = strconv.Itoa(n)
	var partial []string
	switch host {
	case "", "*":
		host = "0.0.0.0"
	case "localhost":
		host = "127.0.0.1"
		partial = append(partial, "nginx resolved localhost; tether listens on IP literals: imported as 127.0.0.1")
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		t.note(d, "host %q is not an IP address: nginx resolved it when starting, tether listens on IP literals only; this listen is not carried over (write the address instead)", host)
		return ls, false
	}
	ip = ip.Unmap()
	ls.ip = ip
	ls.ipv6 = ip.Is6()
	ls.port = port
	if ls.ipv6 {
		ls.addr = "[" + ip.String() + "]:" + port
	} else {
		ls.addr = ip.String() + ":" + port
	}
	for _, p := range d.Args[1:] {
		name, val, _ := strings.Cut(p, "=")
		switch name {
		case "ssl":
			ls.ssl = true
		case "proxy_protocol":
			ls.proxyProtocol = true
		case "default_server", "default":
			ls.defaultServer = true
		case "ipv6only":
			switch val {
			case "on":
				ls.ipv6only = true
			case "off":
				ls.ipv6only = false
			default:
				partial = append(partial, "invalid ipv6only="+val+"; tether's default (on) applies")
			}
		case "udp", "quic", "http3":
			t.note(d, "not supported: tether proxies TCP only; this listen is not carried over")
			return ls, false
		case "http2", "spdy":
			partial = append(partial, "parameter "+name+": not carried over: tether offers only HTTP/1.1 (ALPN http/1.1), as WebSocket upgrades need")
		case "bind":
			// tether always binds each address it listens on.
		default:
			partial = append(partial, "parameter "+p+": not carried over: tether uses the system's socket defaults")
		}
	}
	if len(partial) > 0 {
		t.note(d, "%s", strings.Join(partial, "; "))
	} else {
		t.use(d)
	}
	return ls, true
}

// splitListen splits a listen address into host and port ("" when absent), like
// ngx_parse_inet_url / ngx_parse_inet6_url.
func splitListen(s string) (host, port string, ok bool) {
	if strings.HasPrefix(s, "[") {
		end := strings.IndexByte(s, ']')
		if end < 0 {
			return "", "", false
		}
		host, rest := s[1:end], s[end+1:]
		if rest == "" {
			return host, "", true
		}
		if !strings.HasPrefix(rest, ":") {
			return "", "", false
		}
		return host, rest[1:], rest[1:] != ""
	}
	if isDigits(s) {
		return "", s, true
	}
	if i := strings.LastIndexByte(s, ':'); i >= 0 {
		if strings.Contains(s[:i], ":") {
			return "", "", false // an unbracketed IPv6 address
		}
		return s[:i], s[i+1:], s[i+1:] != ""
	}
	return s, "", s != ""
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
