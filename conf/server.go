package conf

import (
	"errors"
	"fmt"
	"math"
	"net/netip"
	"slices"
	"strings"
	"time"
)

// maxWeight bounds weight= and the summed weight of an upstream's
// non-backup servers. nginx only requires weight >= 1, but the consistent
// hash ring holds 160 points per unit of weight
// (ngx_stream_upstream_update_chash), and package hashing rejects totals
// above 65536.
const maxWeight = 1 << 16

// maxServerID bounds id=: HAProxy places a server's ring points at
// full_hash(id*4096 + n), which stays distinct below 2^20.
const maxServerID = 1 << 20

// Server defaults, as in ngx_stream_upstream_server
// (src/stream/ngx_stream_upstream.c).
const (
	defaultWeight      = 1
	defaultMaxFails    = 1
	defaultFailTimeout = 10 * time.Second
)

// serverParams lists the parameters ParseServer understands, for messages.
const serverParams = "weight=N, max_fails=N, fail_timeout=TIME, max_conns=N, down, backup, resolve, service=NAME, id=N"

// ParseServer parses one nginx stream `server` line (without the leading
// "server" keyword, though it is tolerated, as is a trailing ";"):
//
//	ADDRESS [weight=N] [max_fails=N] [fail_timeout=TIME] [max_conns=N] [down] [backup] [resolve] [service=NAME]
//
// following ngx_stream_upstream_server (src/stream/ngx_stream_upstream.c):
// ADDRESS is host:port or [ipv6]:port with a mandatory port in 1..65535;
// the host is an IP literal or a DNS name (never resolved here); unix:
// addresses are not supported. N is a non-negative decimal integer
// (ngx_atoi: digits only); weight must be 1..65536; max_fails=0 disables
// failure accounting; max_conns=0 means unlimited; TIME uses nginx time
// syntax in seconds (ngx_parse_time with is_sec: "30", "30s", "1m30s";
// no "ms"). Defaults: weight=1 max_fails=1 fail_timeout=10s. resolve (as
// in nginx 1.27.3+ and NGINX Plus) marks a server whose host name is
// re-resolved while tether runs; it needs a host name, not an IP literal.
// service=NAME (nginx 1.27.3+) reads the name's DNS SRV records instead
// (see Server.Service): it needs resolve, and ADDRESS is then a host name
// without a port, as nginx requires.
//
// Unlike nginx, a parameter given twice is an error rather than silently
// using the last one. Server.Name is the address exactly as written.
//
// The error names every wrong part (address and parameters) and why;
// errors.Unwrap on it yields the individual errors.
func ParseServer(s string) (Server, error) {
	srv, errs := parseServer(s)
	if len(errs) > 0 {
		return Server{}, serverErrors(errs)
	}
	return srv, nil
}

// serverErrors are all problems of one server line.
type serverErrors []error

func (es serverErrors) Error() string {
	msgs := make([]string, len(es))
	for i, e := range es {
		msgs[i] = e.Error()
	}
	return strings.Join(msgs, "; ")
}

func (es serverErrors) Unwrap() []error { return es }

// parseServer is ParseServer returning each problem separately.
func parseServer(s string) (Server, []error) {
	fields := strings.Fields(s)
	if n := len(fields); n > 0 {
		fields[n-1] = strings.TrimSuffix(fields[n-1], ";")
		if fields[n-1] == "" {
			fields = fields[:n-1]
		}
	}
	if len(fields) > 1 && fields[0] == "server" {
		fields = fields[1:] // copied from an nginx config
	}
	if len(fields) == 0 {
		return Server{}, []error{errors.New("empty server line (want ADDRESS [PARAMETERS...])")}
	}
	srv := Server{
		Name:        fields[0],
		Weight:      defaultWeight,
		MaxFails:    defaultMaxFails,
		FailTimeout: defaultFailTimeout,
	}
	var errs []error
	service := slices.ContainsFunc(fields[1:], func(f string) bool { return strings.HasPrefix(f, "service=") })
	if err := parseServerAddr(&srv, service); err != nil {
		errs = append(errs, fmt.Errorf("server %q: invalid address %q: %w", s, srv.Name, err))
	}
	seen := make(map[string]bool, len(fields)-1)
	for _, f := range fields[1:] {
		name, val, hasVal := strings.Cut(f, "=")
		if seen[name] {
			errs = append(errs, fmt.Errorf("server %q: parameter %q given twice", s, name))
			continue
		}
		seen[name] = true
		if err := srv.setParam(name, val, hasVal); err != nil {
			errs = append(errs, fmt.Errorf("server %q: invalid parameter %q: %w", s, f, err))
		}
	}
	if srv.Resolve && srv.Host != "" {
		if _, err := netip.ParseAddr(srv.Host); err == nil {
			errs = append(errs, fmt.Errorf("server %q: resolve needs a host name, and %q is an IP address (drop resolve)", s, srv.Host))
		}
	}
	if srv.Service != "" && !srv.Resolve {
		errs = append(errs, fmt.Errorf("server %q: service= needs resolve (as in nginx: \"service upstream requires resolve\")", s))
	}
	return srv, errs
}

// parseServerAddr fills Host and Port from Name. A service server is a host
// name without a port (its ports come from the SRV records), as nginx
// requires ("service upstream may not have port").
func parseServerAddr(srv *Server, service bool) error {
	if strings.HasPrefix(srv.Name, "unix:") {
		return errors.New("unix domain sockets are not supported (tether proxies to TCP backends)")
	}
	if service {
		if strings.ContainsAny(srv.Name, ":[]") {
			return errors.New("a service= server takes its ports from the SRV records: write the host name without a port")
		}
		if _, err := netip.ParseAddr(srv.Name); err == nil {
			return errors.New("a service= server needs a host name, not an IP address")
		}
		if err := checkHostName(srv.Name); err != nil {
			return err
		}
		srv.Host = srv.Name
		return nil
	}
	host, port, bracketed, err := splitHostPort(srv.Name)
	if err != nil {
		return err
	}
	addr, err := parseHostIP(host, bracketed)
	if err != nil {
		return err
	}
	if !addr.IsValid() {
		if host == "" {
			return errors.New("missing host")
		}
		if err := checkHostName(host); err != nil {
			return err
		}
	}
	p, err := parsePort(port)
	if err != nil {
		return err
	}
	srv.Host, srv.Port = host, p
	return nil
}

// setParam applies one parameter; the error says why it is invalid.
func (srv *Server) setParam(name, val string, hasVal bool) error {
	valued := func(what string) error {
		if !hasVal {
			return fmt.Errorf("want %s=%s", name, what)
		}
		return nil
	}
	flag := func() error {
		if hasVal {
			return fmt.Errorf("%s takes no value", name)
		}
		return nil
	}
	switch name {
	case "weight":
		if err := valued("N"); err != nil {
			return err
		}
		n, ok := ngxAtoi(val)
		if !ok || n == 0 || n > maxWeight {
			return fmt.Errorf("weight must be an integer from 1 to %d", maxWeight)
		}
		srv.Weight = n
	case "max_fails":
		if err := valued("N"); err != nil {
			return err
		}
		n, ok := ngxAtoi(val)
		if !ok {
			return errors.New("max_fails must be a non-negative integer (0 disables failure accounting)")
		}
		srv.MaxFails = n
	case "max_conns":
		if err := valued("N"); err != nil {
			return err
		}
		n, ok := ngxAtoi(val)
		if !ok {
			return errors.New("max_conns must be a non-negative integer (0 = unlimited)")
		}
		srv.MaxConns = n
	case "fail_timeout":
		if err := valued("TIME"); err != nil {
			return err
		}
		d, err := ParseNginxTime(val, true)
		if err != nil {
			return fmt.Errorf("fail_timeout must be an nginx time such as 10s or 1m30s: %w", err)
		}
		srv.FailTimeout = d
	case "id":
		if err := valued("N"); err != nil {
			return err
		}
		n, ok := ngxAtoi(val)
		if !ok || n == 0 || n >= maxServerID {
			return fmt.Errorf("id must be an integer from 1 to %d (HAProxy's server id; balance = \"source\" only)", maxServerID-1)
		}
		srv.ID = n
	case "down":
		if err := flag(); err != nil {
			return err
		}
		srv.Down = true
	case "backup":
		if err := flag(); err != nil {
			return err
		}
		srv.Backup = true
	case "resolve":
		if err := flag(); err != nil {
			return err
		}
		srv.Resolve = true
	case "service":
		if err := valued("NAME"); err != nil {
			return err
		}
		if err := checkService(val); err != nil {
			return err
		}
		srv.Service = val
	case "slow_start", "drain", "route", "zone":
		return fmt.Errorf("%s is not supported by tether (valid: %s)", name, serverParams)
	default:
		msg := "unknown parameter"
		if sug := suggest(name, []string{"weight", "max_fails", "fail_timeout", "max_conns", "down", "backup", "resolve", "service", "id"}); sug != "" {
			msg += fmt.Sprintf(" (did you mean %q?)", sug)
		}
		return fmt.Errorf("%s; valid: %s", msg, serverParams)
	}
	return nil
}

// checkService checks a service= value: not empty (nginx: "service is
// empty"), and the SRV name it makes a valid DNS name.
func checkService(svc string) error {
	if svc == "" {
		return errors.New("service is empty (want e.g. service=_http._tcp or service=http)")
	}
	if strings.HasPrefix(svc, ".") || strings.HasSuffix(svc, ".") {
		return fmt.Errorf("service %q: starts or ends with a dot", svc)
	}
	if err := checkHostName(svc); err != nil {
		return fmt.Errorf("service %q: %w", svc, err)
	}
	return nil
}

// SRVName is the name whose SRV records a service server reads, built as
// nginx's ngx_resolve_name does (src/core/ngx_resolver.c): a service
// without a dot gets the RFC 2782 prefix, "_SERVICE._tcp.HOST"; one with a
// dot is joined as is, "SERVICE.HOST". Empty without a service.
func (s Server) SRVName() string {
	switch {
	case s.Service == "":
		return ""
	case strings.Contains(s.Service, "."):
		return s.Service + "." + s.Host
	}
	return "_" + s.Service + "._tcp." + s.Host
}

// ngxAtoi parses a non-negative decimal integer like ngx_atoi
// (src/core/ngx_string.c): digits only, no sign, not empty, no overflow.
func ngxAtoi(s string) (int, bool) {
	if s == "" {
		return 0, false
	}
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		d := int(c - '0')
		if n > (math.MaxInt-d)/10 {
			return 0, false
		}
		n = n*10 + d
	}
	return n, true
}
