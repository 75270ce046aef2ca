package conf

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// splitHostPort splits "host:port" or "[ipv6]:port". It reports whether
// the host was in brackets, and explains what is wrong in terms of the
// address as written.
func splitHostPort(s string) (host, port string, bracketed bool, err error) {
	if s == "" {
		return "", "", false, errors.New("empty address")
	}
	if strings.HasPrefix(s, "[") {
		end := strings.IndexByte(s, ']')
		if end < 0 {
			return "", "", true, errors.New(`missing "]" after IPv6 address`)
		}
		host, rest := s[1:end], s[end+1:]
		if rest == "" {
			return "", "", true, fmt.Errorf("missing port (want [%s]:PORT)", host)
		}
		if rest[0] != ':' {
			return "", "", true, fmt.Errorf(`unexpected %q after "]" (want [%s]:PORT)`, rest, host)
		}
		return host, rest[1:], true, nil
	}
	i := strings.LastIndexByte(s, ':')
	if i < 0 {
		return "", "", false, fmt.Errorf("missing port (want %s:PORT)", s)
	}
	host, port = s[:i], s[i+1:]
	if strings.IndexByte(host, ':') >= 0 {
		if _, err := netip.ParseAddr(host); err == nil {
			return "", "", false, fmt.Errorf("IPv6 address must be in brackets: [%s]:%s", host, port)
		}
		if _, err := netip.ParseAddr(s); err == nil {
			return "", "", false, fmt.Errorf("IPv6 address needs brackets and a port: [%s]:PORT", s)
		}
		return "", "", false, errors.New(`too many colons (IPv6 addresses must be in brackets, e.g. [::1]:8443)`)
	}
	return host, port, false, nil
}

// parsePort parses a decimal port in 1..65535 (ngx_parse_inet_url: ngx_atoi,
// then "invalid port" outside 1..65535).
func parsePort(s string) (uint16, error) {
	if s == "" {
		return 0, errors.New("missing port")
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, fmt.Errorf("port %q is not a number", s)
		}
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil || n < 1 || n > 65535 {
		return 0, fmt.Errorf("port %s out of range 1-65535", s)
	}
	return uint16(n), nil
}

// parseListenAddr parses a listen address: an IPv4 literal or a bracketed
// IPv6 literal (optionally with a zone), and a port, where 0 asks the kernel
// for a free one. Host names are rejected: binding must not depend on DNS.
func parseListenAddr(s string) (netip.AddrPort, error) {
	host, port, bracketed, err := splitHostPort(s)
	if err != nil {
		return netip.AddrPort{}, err
	}
	addr, err := parseHostIP(host, bracketed)
	if err != nil {
		return netip.AddrPort{}, err
	}
	if !addr.IsValid() {
		if host == "" {
			return netip.AddrPort{}, fmt.Errorf("missing host (use 0.0.0.0:%s or [::]:%s to listen on all addresses)", port, port)
		}
		return netip.AddrPort{}, fmt.Errorf("host %q is not an IP address (listen addresses are not resolved; use e.g. 127.0.0.1 or [::1])", host)
	}
	if port == "0" { // the kernel picks a free port at bind; the running server reports it
		return netip.AddrPortFrom(addr, 0), nil
	}
	p, err := parsePort(port)
	if err != nil {
		return netip.AddrPort{}, err
	}
	return netip.AddrPortFrom(addr, p), nil
}

// parseHostIP parses host as an IP literal. It returns the zero Addr and
// no error when host is not an IP literal at all (a name, or empty), and
// an error when it is a malformed literal or bracketed wrongly.
func parseHostIP(host string, bracketed bool) (netip.Addr, error) {
	if bracketed {
		addr, err := netip.ParseAddr(host)
		if err != nil || !addr.Is6() {
			return netip.Addr{}, fmt.Errorf("invalid IPv6 address %q in brackets", host)
		}
		return addr, nil
	}
	if host == "" {
		return netip.Addr{}, nil
	}
	if addr, err := netip.ParseAddr(host); err == nil {
		return addr, nil // IPv4 (an unbracketed IPv6 never gets here)
	}
	if strings.Trim(host, "0123456789.") == "" {
		return netip.Addr{}, fmt.Errorf("invalid IPv4 address %q", host)
	}
	return netip.Addr{}, nil
}

// checkHostName checks the syntax of a DNS name (RFC 1123 labels; "_"
// is allowed as it is common in container and service names). It does
// not resolve it.
func checkHostName(h string) error {
	if len(strings.TrimSuffix(h, ".")) > 253 {
		return errors.New("host name longer than 253 characters")
	}
	labels := strings.Split(strings.TrimSuffix(h, "."), ".")
	for _, l := range labels {
		if l == "" {
			return fmt.Errorf("host name %q has an empty label", h)
		}
		if len(l) > 63 {
			return fmt.Errorf("host name %q has a label longer than 63 characters", h)
		}
		if l[0] == '-' || l[len(l)-1] == '-' {
			return fmt.Errorf("host name %q has a label starting or ending with \"-\"", h)
		}
		for i := 0; i < len(l); i++ {
			c := l[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return fmt.Errorf("host name %q contains invalid character %q", h, c)
			}
		}
	}
	return nil
}
