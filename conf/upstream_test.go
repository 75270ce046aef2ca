package conf

import (
	"errors"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"
)

// upstreamDoc is a valid document whose [upstreams.app] table ends the file, so that a test
// appends keys and sub-tables to it; the table header is on line 6.
const upstreamDoc = `[[listeners]]
name = "a"
listen = "127.0.0.1:8443"
upstream = "app"

[upstreams.app]
servers = ["127.0.0.1:3001", "app.internal:3002 resolve"]
`

func TestUpstreamOps(t *testing.T) {
	defaults := HealthCheck{Type: CheckTCP, Interval: 5 * time.Second, Timeout: 2 * time.Second, Rise: 2, Fall: 3}
	httpDefaults := defaults
	httpDefaults.Type, httpDefaults.Path, httpDefaults.ExpectStatus = CheckHTTP, "/", []StatusRange{{200, 399}}
	with := func(h HealthCheck, f func(*HealthCheck)) HealthCheck { f(&h); return h }

	tests := []struct {
		name string
		add  string      // appended to upstreamDoc
		want UpstreamOps // for a valid document
		errs []string    // every expected problem, each the start of Problem.Error() after "testdata/t.toml:"
	}{
		{name: "nothing set", want: UpstreamOps{}},
		{
			name: "empty health_check table means tcp with defaults",
			add:  "[upstreams.app.health_check]\n",
			want: UpstreamOps{HealthCheck: defaults},
		},
		{
			name: "inline tcp",
			add:  `health_check = { type = "tcp", interval = "1s", timeout = "1s", rise = 1, fall = 5 }` + "\n",
			want: UpstreamOps{HealthCheck: with(defaults, func(h *HealthCheck) { h.Interval, h.Timeout, h.Rise, h.Fall = time.Second, time.Second, 1, 5 })},
		},
		{
			name: "http defaults",
			add:  "[upstreams.app.health_check]\ntype = \"http\"\n",
			want: UpstreamOps{HealthCheck: httpDefaults},
		},
		{
			name: "http with everything",
			add: `[upstreams.app.health_check]
type = "http"
path = "/healthz?full=1"
host = "app.example"
expect_status = [200, "204-206", "300"]
`,
			want: UpstreamOps{HealthCheck: with(httpDefaults, func(h *HealthCheck) {
				h.Path, h.Host, h.ExpectStatus = "/healthz?full=1", "app.example", []StatusRange{{200, 200}, {204, 206}, {300, 300}}
			})},
		},
		{
			name: "a single expected status",
			add:  "[upstreams.app.health_check]\ntype = \"http\"\nexpect_status = 204\n",
			want: UpstreamOps{HealthCheck: with(httpDefaults, func(h *HealthCheck) { h.ExpectStatus = []StatusRange{{204, 204}} })},
		},
		{
			name: "resolvers with and without port",
			add:  `resolver = ["127.0.0.1:5353", "10.0.0.2", "[::1]:53", "::2"]` + "\nresolve_interval = \"10s\"\n",
			want: UpstreamOps{
				Resolvers: []netip.AddrPort{netip.MustParseAddrPort("127.0.0.1:5353"), netip.MustParseAddrPort("10.0.0.2:53"),
					netip.MustParseAddrPort("[::1]:53"), netip.MustParseAddrPort("[::2]:53")},
				ResolveInterval: 10 * time.Second,
			},
		},
		{
			name: "one resolver as a string",
			add:  `resolver = "127.0.0.53"` + "\n",
			want: UpstreamOps{Resolvers: []netip.AddrPort{netip.MustParseAddrPort("127.0.0.53:53")}},
		},
		// ---- problems ----
		{
			name: "unknown keys with suggestions",
			add:  "resolvr = \"127.0.0.1\"\n[upstreams.app.health_check]\nintervall = \"1s\"\nbogus = 1\n",
			errs: []string{
				`8: upstreams.app.resolvr: unknown key (did you mean "resolver"?)`,
				`10: upstreams.app.health_check.intervall: unknown key (did you mean "interval"?)`,
				`11: upstreams.app.health_check.bogus: unknown key in [upstreams.NAME.health_check] (valid: type, interval,`,
			},
		},
		{
			name: "bad values",
			add: `[upstreams.app.health_check]
type = "htp"
interval = "5"
timeout = "-1s"
rise = 0
fall = "3"
`,
			errs: []string{
				`9: upstreams.app.health_check.type: unknown value "htp" (did you mean "http"?); valid: "tcp", "http"`,
				`10: upstreams.app.health_check.interval: invalid duration "5"`,
				`11: upstreams.app.health_check.timeout: duration "-1s" must not be negative`,
				`12: upstreams.app.health_check.rise: 0 out of range 1-`,
				`13: upstreams.app.health_check.fall: expected an integer, got string "3"`,
			},
		},
		{
			name: "timeout longer than interval",
			add:  "[upstreams.app.health_check]\ninterval = \"1s\"\ntimeout = \"2s\"\n",
			errs: []string{`10: upstreams.app.health_check.timeout: timeout 2s is longer than interval 1s`},
		},
		{
			name: "http keys on a tcp check",
			add:  "[upstreams.app.health_check]\npath = \"/x\"\nexpect_status = 200\n",
			errs: []string{
				`9: upstreams.app.health_check.path: only for type = "http" checks`,
				`10: upstreams.app.health_check.expect_status: only for type = "http" checks`,
			},
		},
		{
			name: "bad http values",
			add: `[upstreams.app.health_check]
type = "http"
path = "healthz"
host = "a b"
expect_status = [99, "300-200", "2xx", 1.5]
`,
			errs: []string{
				`10: upstreams.app.health_check.path: invalid request path "healthz"`,
				`11: upstreams.app.health_check.host: invalid Host header "a b"`,
				`12: upstreams.app.health_check.expect_status[0]: status 99 out of range 100-599`,
				`12: upstreams.app.health_check.expect_status[1]: invalid status range "300-200": 300 > 200`,
				`12: upstreams.app.health_check.expect_status[2]: invalid status "2xx"`,
				`12: upstreams.app.health_check.expect_status[3]: expected a status code, got float 1.5`,
			},
		},
		{
			name: "empty expect_status",
			add:  "[upstreams.app.health_check]\ntype = \"http\"\nexpect_status = []\n",
			errs: []string{`10: upstreams.app.health_check.expect_status: empty list`},
		},
		{
			name: "health_check not a table",
			add:  "health_check = \"tcp\"\n",
			errs: []string{`8: upstreams.app.health_check: expected a table ([upstreams.NAME.health_check]), got string "tcp"`},
		},
		{
			name: "bad resolvers",
			add:  `resolver = ["dns.example:53", "127.0.0.1:0", "[fe80::1%eth0]:53", 53]` + "\nresolve_interval = \"0s\"\n",
			errs: []string{
				`8: upstreams.app.resolver[0]: invalid resolver address "dns.example:53": "dns.example" is not an IP address`,
				`8: upstreams.app.resolver[1]: invalid resolver address "127.0.0.1:0": port 0 out of range`,
				`8: upstreams.app.resolver[2]: invalid resolver address "[fe80::1%eth0]:53": zones are not supported`,
				`8: upstreams.app.resolver[3]: expected a string, got integer 53`,
				`9: upstreams.app.resolve_interval: duration "0s" must be greater than 0`,
			},
		},
		{
			name: "empty resolver list",
			add:  "resolver = []\n",
			errs: []string{`8: upstreams.app.resolver: empty list`},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Parse(testFile, []byte(upstreamDoc+tc.add))
			checkProblemList(t, err, tc.errs)
			if tc.errs != nil {
				return
			}
			got := c.Upstreams["app"].UpstreamOps
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got  %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

// TestResolverNeedsResolve checks that resolver and resolve_interval are refused where no
// server is marked resolve: they would silently do nothing.
func TestResolverNeedsResolve(t *testing.T) {
	doc := strings.Replace(upstreamDoc, `"app.internal:3002 resolve"`, `"app.internal:3002"`, 1) +
		"resolver = \"127.0.0.1\"\nresolve_interval = \"5s\"\n"
	_, err := Parse(testFile, []byte(doc))
	checkProblemList(t, err, []string{
		`8: upstreams.app.resolver: no server is marked resolve, so resolver has no effect`,
		`9: upstreams.app.resolve_interval: no server is marked resolve, so resolve_interval has no effect`,
	})
}

// TestServiceNeedsResolver: a service= server is read with tether's own DNS client (the system
// resolver's SRV lookups do not report TTLs), so an upstream without resolver is refused at the
// server's position rather than resolving nothing.
func TestServiceNeedsResolver(t *testing.T) {
	doc := strings.Replace(upstreamDoc, `"app.internal:3002 resolve"`, `"app.internal service=_http._tcp resolve"`, 1)
	_, err := Parse(testFile, []byte(doc))
	checkProblemList(t, err, []string{
		`7: upstreams.app.servers[1]: server "app.internal": service= reads SRV records with tether's own DNS client, so the upstream needs resolver`,
	})
	if _, err := Parse(testFile, []byte(doc+"resolver = \"127.0.0.1\"\n")); err != nil {
		t.Fatalf("with a resolver: %v", err)
	}
}

// checkProblemList checks that err lists exactly the problems want, in order, each given as
// the start of its text after "testdata/t.toml:"; want nil means no error.
func checkProblemList(t *testing.T, err error, want []string) {
	t.Helper()
	if want == nil {
		if err != nil {
			t.Fatalf("unexpected problems:\n%v", err)
		}
		return
	}
	var ps Problems
	if !errors.As(err, &ps) {
		t.Fatalf("got %v, want problems %q", err, want)
	}
	if len(ps) != len(want) {
		t.Fatalf("got %d problems, want %d:\n%v", len(ps), len(want), err)
	}
	for i, p := range ps {
		if got := strings.TrimPrefix(p.Error(), testFile+":"); !strings.HasPrefix(got, want[i]) {
			t.Errorf("problem %d:\n got %q\nwant %q...", i, got, want[i])
		}
	}
}

func TestHealthCheckExpects(t *testing.T) {
	h := HealthCheck{ExpectStatus: []StatusRange{{200, 299}, {304, 304}}}
	for status, want := range map[int]bool{199: false, 200: true, 299: true, 300: false, 304: true, 503: false} {
		if got := h.Expects(status); got != want {
			t.Errorf("Expects(%d) = %t, want %t", status, got, want)
		}
	}
}
