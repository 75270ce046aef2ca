package conf

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestParseServer(t *testing.T) {
	base := func(name, host string, port uint16) Server {
		return Server{Name: name, Host: host, Port: port, Weight: 1, MaxFails: 1, FailTimeout: 10 * time.Second}
	}
	with := func(s Server, f func(*Server)) Server { f(&s); return s }

	valid := []struct {
		in   string
		want Server
	}{
		{"127.0.0.1:3001", base("127.0.0.1:3001", "127.0.0.1", 3001)},
		{"localhost:3002 weight=2", with(base("localhost:3002", "localhost", 3002), func(s *Server) { s.Weight = 2 })},
		{"[::1]:3001", base("[::1]:3001", "::1", 3001)},
		{"[fe80::1%eth0]:80", base("[fe80::1%eth0]:80", "fe80::1%eth0", 80)},
		{"127.0.0.1:3003 down", with(base("127.0.0.1:3003", "127.0.0.1", 3003), func(s *Server) { s.Down = true })},
		{"  10.0.0.1:80 \t weight=3 max_fails=0 fail_timeout=1m30s max_conns=100 down  ",
			with(base("10.0.0.1:80", "10.0.0.1", 80), func(s *Server) {
				s.Weight, s.MaxFails, s.FailTimeout, s.MaxConns, s.Down = 3, 0, 90*time.Second, 100, true
			})},
		{"10.0.0.1:80;", base("10.0.0.1:80", "10.0.0.1", 80)},
		{"10.0.0.1:80 weight=2 ;", with(base("10.0.0.1:80", "10.0.0.1", 80), func(s *Server) { s.Weight = 2 })},
		{"server 10.0.0.1:80 backup;", with(base("10.0.0.1:80", "10.0.0.1", 80), func(s *Server) { s.Backup = true })},
		{"app_1.svc.cluster.local.:8080", base("app_1.svc.cluster.local.:8080", "app_1.svc.cluster.local.", 8080)},
		{"10.0.0.1:80 fail_timeout=0", with(base("10.0.0.1:80", "10.0.0.1", 80), func(s *Server) { s.FailTimeout = 0 })},
		{"10.0.0.1:80 fail_timeout=30", with(base("10.0.0.1:80", "10.0.0.1", 80), func(s *Server) { s.FailTimeout = 30 * time.Second })},
		{"10.0.0.1:80 weight=65536", with(base("10.0.0.1:80", "10.0.0.1", 80), func(s *Server) { s.Weight = 65536 })},
		{"10.0.0.1:65535", base("10.0.0.1:65535", "10.0.0.1", 65535)},
		// The name is the hash identity: kept exactly, even when it spells
		// the same address differently.
		{"10.0.0.1:00080", base("10.0.0.1:00080", "10.0.0.1", 80)},
		{"Backend.Example.COM:443", base("Backend.Example.COM:443", "Backend.Example.COM", 443)},
		{"app.internal:3001 resolve", with(base("app.internal:3001", "app.internal", 3001), func(s *Server) { s.Resolve = true })},
		{"server app.internal:3001 weight=2 resolve;", with(base("app.internal:3001", "app.internal", 3001), func(s *Server) { s.Weight, s.Resolve = 2, true })},
		// service=: a host name without a port, as nginx requires.
		{"app.internal service=_http._tcp resolve", with(base("app.internal", "app.internal", 0), func(s *Server) { s.Resolve, s.Service = true, "_http._tcp" })},
		{"server backend.test service=http resolve max_fails=3;", with(base("backend.test", "backend.test", 0), func(s *Server) { s.Resolve, s.Service, s.MaxFails = true, "http", 3 })},
	}
	for _, tc := range valid {
		got, err := ParseServer(tc.in)
		if err != nil {
			t.Errorf("ParseServer(%q): %v", tc.in, err)
			continue
		}
		if got != tc.want {
			t.Errorf("ParseServer(%q)\n got %+v\nwant %+v", tc.in, got, tc.want)
		}
	}

	invalid := []struct {
		in   string
		want []string // one substring per reported error, in order
	}{
		{"", []string{"empty server line"}},
		{"   ;", []string{"empty server line"}},
		{"127.0.0.1", []string{`invalid address "127.0.0.1": missing port`}},
		{"localhost", []string{`invalid address "localhost": missing port (want localhost:PORT)`}},
		{"127.0.0.1:", []string{"missing port"}},
		{"127.0.0.1:0", []string{"port 0 out of range 1-65535"}},
		{"127.0.0.1:65536", []string{"port 65536 out of range 1-65535"}},
		{"127.0.0.1:99999999999999999999999", []string{"out of range 1-65535"}},
		{"127.0.0.1:-1", []string{`port "-1" is not a number`}},
		{"127.0.0.1:3001;;", []string{`port "3001;" is not a number`}},
		{":80", []string{"missing host"}},
		{"::1:80", []string{"IPv6 address must be in brackets: [::1]:80"}},
		{"[::1", []string{`missing "]"`}},
		{"[::1]x:80", []string{`unexpected "x:80" after "]"`}},
		{"[127.0.0.1]:80", []string{`invalid IPv6 address "127.0.0.1" in brackets`}},
		{"[zz]:80", []string{`invalid IPv6 address "zz"`}},
		{"300.0.0.1:80", []string{`invalid IPv4 address "300.0.0.1"`}},
		{"bad!host:80", []string{`invalid character '!'`}},
		{"-bad.example:80", []string{`starting or ending with "-"`}},
		{"a..b:80", []string{"empty label"}},
		{"unix:/tmp/app.sock", []string{"unix domain sockets are not supported"}},
		{"x:1 weight=0", []string{`invalid parameter "weight=0": weight must be an integer from 1 to 65536`}},
		{"x:1 weight=abc", []string{`invalid parameter "weight=abc": weight must be`}},
		{"x:1 weight=", []string{`invalid parameter "weight=": weight must be`}},
		{"x:1 weight", []string{`invalid parameter "weight": want weight=N`}},
		{"x:1 weight=-1", []string{`"weight=-1"`}},
		{"x:1 weight=+1", []string{`"weight=+1"`}},
		{"x:1 weight=65537", []string{`"weight=65537": weight must be an integer from 1 to 65536`}},
		{"x:1 weight=99999999999999999999999", []string{`weight must be`}},
		{"x:1 max_fails=-1", []string{`invalid parameter "max_fails=-1": max_fails must be a non-negative integer`}},
		{"x:1 max_conns=x", []string{`invalid parameter "max_conns=x": max_conns must be a non-negative integer`}},
		{"x:1 fail_timeout=xyz", []string{`invalid parameter "fail_timeout=xyz": fail_timeout must be an nginx time`}},
		{"x:1 fail_timeout=500ms", []string{`unit "ms" is not allowed here`}},
		{"x:1 fail_timeout=", []string{`"fail_timeout=": fail_timeout must be an nginx time`}},
		{"x:1 fail_timeout=1s1m", []string{"units must go from the largest to the smallest"}},
		{"x:1 down=1", []string{`invalid parameter "down=1": down takes no value`}},
		{"x:1 backup=yes", []string{"backup takes no value"}},
		{"x:1 Weight=2", []string{`unknown parameter (did you mean "weight"?)`}},
		{"x:1 weigth=2", []string{`unknown parameter (did you mean "weight"?); valid: weight=N,`}},
		{"x:1 bogus", []string{"unknown parameter; valid: weight=N"}},
		{"x:1 drain", []string{"drain is not supported by tether"}},
		{"x:1 resolve=yes", []string{`invalid parameter "resolve=yes": resolve takes no value`}},
		{"127.0.0.1:80 resolve", []string{`resolve needs a host name, and "127.0.0.1" is an IP address`}},
		{"[::1]:80 resolve", []string{`resolve needs a host name, and "::1" is an IP address`}},
		{"x:1 reslove", []string{`unknown parameter (did you mean "resolve"?)`}},
		{"x:1 weight=2 weight=3", []string{`parameter "weight" given twice`}},
		{"app.test service=http", []string{`service= needs resolve`}},
		{"app.test:80 service=http resolve", []string{`write the host name without a port`}},
		{"[::1]:80 service=http resolve", []string{`write the host name without a port`}},
		{"10.0.0.1 service=http resolve", []string{`needs a host name, not an IP address`}},
		{"app.test service= resolve", []string{`service is empty`}},
		{"app.test service resolve", []string{`missing port`, `want service=NAME`}},
		{"app.test service=_http._tcp. resolve", []string{`starts or ends with a dot`}},
		{"app.test service=ht/tp resolve", []string{`invalid character '/'`}},
		{"app.test servce=http resolve", []string{`invalid address "app.test": missing port`, `did you mean "service"?`}},
		{"x:1 down down", []string{`parameter "down" given twice`}},
		// Every problem of a line is reported.
		{"x weight=0 max_fails=x", []string{`invalid address "x": missing port`, `"weight=0"`, `"max_fails=x"`}},
	}
	for _, tc := range invalid {
		got, err := ParseServer(tc.in)
		if err == nil {
			t.Errorf("ParseServer(%q) = %+v, want error", tc.in, got)
			continue
		}
		if got != (Server{}) {
			t.Errorf("ParseServer(%q) returned %+v with an error", tc.in, got)
		}
		var u interface{ Unwrap() []error }
		if !errors.As(err, &u) {
			t.Fatalf("error %T does not unwrap", err)
		}
		errs := u.Unwrap()
		if len(errs) != len(tc.want) {
			t.Errorf("ParseServer(%q): %d errors, want %d: %v", tc.in, len(errs), len(tc.want), err)
			continue
		}
		for i, want := range tc.want {
			if !strings.Contains(errs[i].Error(), want) {
				t.Errorf("ParseServer(%q): error %d = %q, want it to contain %q", tc.in, i, errs[i], want)
			}
		}
		if tc.in != "" && strings.TrimSpace(tc.in) != ";" && !strings.Contains(err.Error(), `server "`+tc.in+`"`) {
			t.Errorf("ParseServer(%q): error %q does not quote the line", tc.in, err)
		}
	}
}

func TestParseNginxTime(t *testing.T) {
	const (
		day  = 24 * time.Hour
		week = 7 * day
	)
	tests := []struct {
		in    string
		isSec bool
		want  time.Duration
		err   string // substring; "" means success
	}{
		// seconds (fail_timeout): ngx_parse_time(&s, 1)
		{"10", true, 10 * time.Second, ""},
		{"0", true, 0, ""},
		{"10s", true, 10 * time.Second, ""},
		{"1m30s", true, 90 * time.Second, ""},
		{"1h 30m", true, 90 * time.Minute, ""},
		{"1h30", true, time.Hour + 30*time.Second, ""},
		{"1d", true, day, ""},
		{"2w", true, 2 * week, ""},
		{"1M", true, 30 * day, ""},
		{"1y", true, 365 * day, ""},
		{"1y1M1w1d1h1m1s", true, 365*day + 30*day + week + day + time.Hour + time.Minute + time.Second, ""},
		{"68y", true, 68 * 365 * day, ""},
		{"2147483647", true, 2147483647 * time.Second, ""},
		{"69y", true, 0, "too large"},
		{"2147483648", true, 0, "too large"},
		{"99999999999999999999", true, 0, "too large"},
		{"60y60y", true, 0, "units must go"},
		{"", true, 0, "no number"},
		{"s", true, 0, "no number"},
		{"500ms", true, 0, `"ms" is not allowed`},
		{"1s1m", true, 0, "units must go"},
		{"1m1m", true, 0, "units must go"},
		{"10 s", true, 0, "units must go"},
		{"1x", true, 0, "unexpected character 'x'"},
		{"-1", true, 0, "unexpected character '-'"},
		{"1.5s", true, 0, "unexpected character '.'"},
		// milliseconds (most nginx timeouts): ngx_parse_time(&s, 0)
		{"500ms", false, 500 * time.Millisecond, ""},
		{"10", false, 10 * time.Second, ""},
		{"1m30s", false, 90 * time.Second, ""},
		{"1s500ms", false, 1500 * time.Millisecond, ""},
		{"1w", false, week, ""},
		{"24d", false, 24 * day, ""},
		{"2147483647ms", false, 2147483647 * time.Millisecond, ""},
		{"25d", false, 0, "too large"},
		{"2147484s", false, 0, "too large"},
		{"1y", false, 0, `unit "y" is not allowed`},
		{"1M", false, 0, `unit "M" is not allowed`},
		{"1ms1s", false, 0, "units must go"},
	}
	for _, tc := range tests {
		got, err := ParseNginxTime(tc.in, tc.isSec)
		switch {
		case tc.err == "" && err != nil:
			t.Errorf("ParseNginxTime(%q, %t): %v", tc.in, tc.isSec, err)
		case tc.err == "" && got != tc.want:
			t.Errorf("ParseNginxTime(%q, %t) = %v, want %v", tc.in, tc.isSec, got, tc.want)
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("ParseNginxTime(%q, %t) = %v, %v; want error containing %q", tc.in, tc.isSec, got, err, tc.err)
		}
	}
}

func TestSuggest(t *testing.T) {
	keys := []string{"name", "listen", "upstream", "preamble", "max_preamble", "ipv6only", "tls", "timeouts"}
	for _, tc := range []struct{ in, want string }{
		{"upsteam", "upstream"},
		{"Upstream", "upstream"},
		{"ipv6_only", "ipv6only"},
		{"maxpreamble", "max_preamble"},
		{"lsiten", "listen"},
		{"tsl", "tls"},
		{"nmae", "name"},
		{"backend", ""},
		{"x", ""},
	} {
		if got := suggest(tc.in, keys); got != tc.want {
			t.Errorf("suggest(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// TestSRVName pins nginx's SRV name rule (ngx_resolve_name in src/core/ngx_resolver.c): a
// service without a dot gets the RFC 2782 "_SERVICE._tcp." prefix, one with a dot is used as is.
func TestSRVName(t *testing.T) {
	for _, tc := range []struct{ line, want string }{
		{"backend.test service=http resolve", "_http._tcp.backend.test"},
		{"backend.test service=_http._tcp resolve", "_http._tcp.backend.test"},
		{"example.test service=server1.backend resolve", "server1.backend.example.test"},
		{"backend.test:80 resolve", ""},
	} {
		s, err := ParseServer(tc.line)
		if err != nil {
			t.Fatal(err)
		}
		if got := s.SRVName(); got != tc.want {
			t.Errorf("%q: SRV name %q, want %q", tc.line, got, tc.want)
		}
	}
}
