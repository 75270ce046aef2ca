package conf

import (
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"
)

// testFile is the file name given to Parse in table tests; relative cert
// paths resolve against testdata/.
const testFile = "testdata/t.toml"

func abs(t *testing.T, p string) string {
	t.Helper()
	a, err := filepath.Abs(p)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestParse(t *testing.T) {
	site := abs(t, "testdata/certs/site.pem")
	siteKey := abs(t, "testdata/certs/site.key")
	def := DefaultTimeouts()
	srv := func(name, host string, port uint16) Server {
		return Server{Name: name, Host: host, Port: port, Weight: 1, MaxFails: 1, FailTimeout: 10 * time.Second}
	}

	tests := []struct {
		name string
		in   string
		// want checks a successful parse; nil means Parse must fail.
		want func(t *testing.T, c *Config)
		// errs lists every expected problem in order, each as the start
		// of Problem.Error() after "testdata/t.toml:" (so "12: key: msg",
		// or " key: msg" for document-level problems).
		errs []string
	}{
		// ---- valid configurations ----
		{
			name: "minimal with all defaults",
			in: `[[listeners]]
name = "a"
listen = "127.0.0.1:8443"
upstream = "app"

[upstreams.app]
servers = ["127.0.0.1:3001"]
`,
			want: func(t *testing.T, c *Config) {
				want := &Config{
					File:         testFile,
					DrainTimeout: 30 * time.Second, DrainSpread: 5 * time.Second, MaxHandshakes: 1024, FDReserve: 64,
					Listeners: []*Listener{{
						Name: "a", Listen: "127.0.0.1:8443", Addr: netip.MustParseAddrPort("127.0.0.1:8443"),
						IPv6Only: true, Upstream: "app", Preamble: PreambleHTTP, MaxPreamble: 32768,
						Timeouts: def, Line: 1,
					}},
					Upstreams: map[string]*Upstream{"app": {
						Name: "app", Balance: BalanceHashConsistent, Line: 6,
						Servers: []Server{srv("127.0.0.1:3001", "127.0.0.1", 3001)},
					}},
				}
				deepEqual(t, c, want)
			},
		},
		{
			name: "the documented example, verbatim",
			in:   readFile(t, "testdata/example.toml"),
			want: func(t *testing.T, c *Config) {
				down := srv("127.0.0.1:3003", "127.0.0.1", 3003)
				down.Down = true
				weighted := srv("localhost:3002", "localhost", 3002)
				weighted.Weight = 2
				timeouts := def
				timeouts.Idle = 2 * time.Hour // half_close stays at the explicit global 1h
				want := &Config{
					File:         testFile,
					DrainTimeout: 30 * time.Second, DrainSpread: 5 * time.Second, MaxHandshakes: 1024, FDReserve: 64,
					Listeners: []*Listener{{
						Name: "wss", Listen: "127.0.0.1:8443", Addr: netip.MustParseAddrPort("127.0.0.1:8443"),
						IPv6Only: true, Upstream: "app", Preamble: PreambleHTTP, MaxPreamble: 32768,
						TLS: &TLS{Certs: []CertKey{{Cert: site, Key: siteKey}}}, Timeouts: timeouts, Line: 13,
					}},
					Upstreams: map[string]*Upstream{"app": {
						Name: "app", Balance: BalanceHashConsistent, ProxyProtocol: ProxyV2, Line: 26,
						Servers: []Server{srv("127.0.0.1:3001", "127.0.0.1", 3001), weighted, down},
					}},
				}
				deepEqual(t, c, want)
			},
		},
		{
			name: "half_close follows the effective idle unless set explicitly",
			in: `[timeouts]
idle = "2h"
connect = "1s"

[[listeners]]
name = "inherits"
listen = "127.0.0.1:1"
upstream = "app"

[[listeners]]
name = "overrides-idle"
listen = "127.0.0.1:2"
upstream = "app"
timeouts = { idle = "3h", handshake = "500ms" }

[[listeners]]
name = "explicit-half-close"
listen = "127.0.0.1:3"
upstream = "app"
[listeners.timeouts]
half_close = "5m"
preamble = "1m30s"

[upstreams.app]
servers = ["127.0.0.1:3001"]
`,
			want: func(t *testing.T, c *Config) {
				want := []Timeouts{
					{Handshake: 10 * time.Second, Preamble: 10 * time.Second, Connect: time.Second, Idle: 2 * time.Hour, HalfClose: 2 * time.Hour, CloseGrace: 5 * time.Second},
					{Handshake: 500 * time.Millisecond, Preamble: 10 * time.Second, Connect: time.Second, Idle: 3 * time.Hour, HalfClose: 3 * time.Hour, CloseGrace: 5 * time.Second},
					{Handshake: 10 * time.Second, Preamble: 90 * time.Second, Connect: time.Second, Idle: 2 * time.Hour, HalfClose: 5 * time.Minute, CloseGrace: 5 * time.Second},
				}
				for i, l := range c.Listeners {
					if l.Timeouts != want[i] {
						t.Errorf("listener %s: timeouts %+v, want %+v", l.Name, l.Timeouts, want[i])
					}
				}
				if lines := []int{c.Listeners[0].Line, c.Listeners[1].Line, c.Listeners[2].Line}; !reflect.DeepEqual(lines, []int{5, 10, 16}) {
					t.Errorf("listener lines %v", lines)
				}
			},
		},
		{
			name: "global half_close applies under a listener idle override",
			in: `[timeouts]
half_close = "5m"
[[listeners]]
name = "a"
listen = "127.0.0.1:1"
upstream = "app"
timeouts.idle = "3h"
[upstreams.app]
servers = ["127.0.0.1:3001"]
`,
			want: func(t *testing.T, c *Config) {
				if got := c.Listeners[0].Timeouts; got.Idle != 3*time.Hour || got.HalfClose != 5*time.Minute {
					t.Errorf("timeouts %+v", got)
				}
			},
		},
		{
			name: "response timeout: global, per listener, 0s is off",
			in: `[timeouts]
response = "45s"
[[listeners]]
name = "global"
listen = "127.0.0.1:1"
upstream = "app"
[[listeners]]
name = "own"
listen = "127.0.0.1:2"
upstream = "app"
timeouts.response = "2s"
[[listeners]]
name = "off"
listen = "127.0.0.1:3"
upstream = "app"
timeouts.response = "0s"
[[listeners]]
name = "raw"
listen = "127.0.0.1:4"
upstream = "app"
preamble = "none"
[upstreams.app]
servers = ["127.0.0.1:3001"]
`,
			want: func(t *testing.T, c *Config) {
				for i, want := range []time.Duration{45 * time.Second, 2 * time.Second, 0, 45 * time.Second} {
					if got := c.Listeners[i].Timeouts.Response; got != want {
						t.Errorf("listener %s: response %v, want %v", c.Listeners[i].Name, got, want)
					}
				}
			},
		},
		{
			name: "close_grace: 5s by default, global, per listener, 0s turns polite endings off",
			in: `[timeouts]
close_grace = "2s"
[[listeners]]
name = "global"
listen = "127.0.0.1:1"
upstream = "app"
[[listeners]]
name = "off"
listen = "127.0.0.1:2"
upstream = "app"
timeouts.close_grace = "0s"
[upstreams.app]
servers = ["127.0.0.1:3001"]
`,
			want: func(t *testing.T, c *Config) {
				for i, want := range []time.Duration{2 * time.Second, 0} {
					if got := c.Listeners[i].Timeouts.CloseGrace; got != want {
						t.Errorf("listener %s: close_grace %v, want %v", c.Listeners[i].Name, got, want)
					}
				}
			},
		},
		{
			name: "close_grace: negative",
			in: `[[listeners]]
name = "a"
listen = "127.0.0.1:1"
upstream = "app"
timeouts.close_grace = "-1s"
[upstreams.app]
servers = ["127.0.0.1:3001"]
`,
			errs: []string{`5: listeners[0].timeouts.close_grace: duration "-1s" must not be negative`},
		},
		{
			name: "response timeout: a raw listener's own, negative",
			in: `[timeouts]
response = "-1s"
[[listeners]]
name = "raw"
listen = "127.0.0.1:1"
upstream = "app"
preamble = "none"
timeouts.response = "5s"
[upstreams.app]
servers = ["127.0.0.1:3001"]
`,
			errs: []string{
				`2: timeouts.response: duration "-1s" must not be negative`,
				`8: listeners[0].timeouts.response: the answer to a request head is awaited, but preamble = "none" reads none`,
			},
		},
		{
			name: "drain_timeout 0 closes immediately",
			in: `drain_timeout = "0s"
[[listeners]]
name = "a"
listen = "127.0.0.1:1"
upstream = "app"
[upstreams.app]
servers = ["127.0.0.1:3001"]
`,
			want: func(t *testing.T, c *Config) {
				if c.DrainTimeout != 0 {
					t.Errorf("DrainTimeout %v", c.DrainTimeout)
				}
			},
		},
		{
			name: "IPv6 and wildcard listeners that can coexist; ipv6only on IPv4 is ignored",
			in: `[[listeners]]
name = "v6-only-wildcard"
listen = "[::]:8443"
upstream = "app"
[[listeners]]
name = "v4-wildcard"
listen = "0.0.0.0:8443"
ipv6only = false
upstream = "app"
[[listeners]]
name = "loopback6"
listen = "[::1]:9000"
ipv6only = false
upstream = "app"
[[listeners]]
name = "zone"
listen = "[fe80::1%eth0]:9001"
upstream = "app"
[upstreams.app]
servers = ["127.0.0.1:3001"]
`,
			want: func(t *testing.T, c *Config) {
				got := []string{}
				for _, l := range c.Listeners {
					got = append(got, l.Addr.String()+" "+map[bool]string{true: "v6only", false: "dual"}[l.IPv6Only])
				}
				want := []string{"[::]:8443 v6only", "0.0.0.0:8443 dual", "[::1]:9000 dual", "[fe80::1%eth0]:9001 v6only"}
				deepEqual(t, got, want)
			},
		},
		{
			name: "inline tables and arrays of inline tables",
			in: `listeners = [
  { name = "a", listen = "127.0.0.1:1", upstream = "app" },
  { name = "b", listen = "127.0.0.1:2", upstream = "app", tls = { cert = "certs/site.pem", key = "certs/site.key" } },
]
upstreams = { app = { servers = [
  "127.0.0.1:3001",
  "127.0.0.1:3002",
] } }
`,
			want: func(t *testing.T, c *Config) {
				if len(c.Listeners) != 2 || c.Listeners[0].Line != 2 || c.Listeners[1].Line != 3 {
					t.Fatalf("listeners %+v", c.Listeners)
				}
				deepEqual(t, c.Listeners[1].TLS, &TLS{Certs: []CertKey{{Cert: site, Key: siteKey}}})
				if u := c.Upstreams["app"]; u.Line != 5 || len(u.Servers) != 2 {
					t.Errorf("upstream %+v", u)
				}
			},
		},
		{
			name: "server line variants, balance and proxy_protocol values",
			in: `[[listeners]]
name = "a"
listen = "127.0.0.1:1"
upstream = "my app"
preamble = "websocket"
max_preamble = 1024
[[listeners]]
name = "b"
listen = "127.0.0.1:2"
upstream = "plain"
preamble = "none"
max_preamble = 1048576

[upstreams."my app"]
balance = "hash"
proxy_protocol = "v1"
servers = [
  "[::1]:3001",
  "server 10.0.0.1:80 weight=3 max_fails=0 fail_timeout=1m30s max_conns=100;",
  "backend-1.internal:8080\tdown",
  "10.0.0.9:80 backup",
]
[upstreams.plain]
proxy_protocol = ""
servers = ["127.0.0.1:3001"]
`,
			want: func(t *testing.T, c *Config) {
				a, b := c.Listeners[0], c.Listeners[1]
				if a.Preamble != PreambleWebSocket || a.MaxPreamble != 1024 || b.Preamble != PreambleNone || b.MaxPreamble != 1048576 {
					t.Errorf("preamble settings %+v %+v", a, b)
				}
				u := c.Upstreams["my app"]
				full := srv("10.0.0.1:80", "10.0.0.1", 80)
				full.Weight, full.MaxFails, full.FailTimeout, full.MaxConns = 3, 0, 90*time.Second, 100
				down := srv("backend-1.internal:8080", "backend-1.internal", 8080)
				down.Down = true
				backup := srv("10.0.0.9:80", "10.0.0.9", 80)
				backup.Backup = true
				deepEqual(t, u, &Upstream{
					Name: "my app", Balance: BalanceHash, ProxyProtocol: ProxyV1, Line: 14,
					Servers: []Server{srv("[::1]:3001", "::1", 3001), full, down, backup},
				})
				if p := c.Upstreams["plain"]; p.ProxyProtocol != ProxyOff || p.Balance != BalanceHashConsistent {
					t.Errorf("plain %+v", p)
				}
			},
		},
		{
			name: "absolute cert paths are kept",
			in: `[[listeners]]
name = "a"
listen = "127.0.0.1:1"
upstream = "app"
tls.cert = "` + site + `"
tls.key = "` + siteKey + `"
[upstreams.app]
servers = ["127.0.0.1:3001"]
`,
			want: func(t *testing.T, c *Config) {
				deepEqual(t, c.Listeners[0].TLS, &TLS{Certs: []CertKey{{Cert: site, Key: siteKey}}})
			},
		},

		// ---- syntax errors: reported alone, with their line ----
		{
			name: "syntax error",
			in:   "[[listeners]]\nname = \"a\"\nlisten = \n",
			errs: []string{"3: TOML syntax error at column 10: expected value but found '\\n' instead"},
		},
		{
			name: "duplicate key is a syntax error",
			in:   "[[listeners]]\nname = \"a\"\nname = \"b\"\n",
			errs: []string{"3: TOML syntax error"},
		},

		// ---- document level ----
		{
			name: "empty file: no listeners",
			in:   "# nothing\n",
			errs: []string{" listeners: no listeners defined"},
		},
		{
			name: "empty listeners array",
			in:   "\nlisteners = []\n",
			errs: []string{"2: listeners: no listeners defined"},
		},
		{
			name: "single brackets for listeners",
			in:   "[listeners]\nname = \"a\"\n",
			errs: []string{"1: listeners: expected an array of tables, got a table: write [[listeners]] with double brackets"},
		},
		{
			name: "listeners of the wrong type",
			in:   "listeners = \"a\"\n",
			errs: []string{`1: listeners: expected an array of tables ([[listeners]]), got string "a"`},
		},
		{
			name: "listeners element not a table",
			in:   "listeners = [\n  5,\n]\n",
			errs: []string{"2: listeners[0]: expected a table (a [[listeners]] entry), got integer 5"},
		},

		// ---- unknown keys everywhere, with suggestions ----
		{
			name: "unknown keys with and without suggestions",
			in: `drain = "5s"
[timeouts]
idel = "5m"
[[listeners]]
name = "a"
listen = "127.0.0.1:1"
upstream = "app"
ipv6_only = true
tls = { cert = "certs/site.pem", key = "certs/site.key", crt = "x" }
timeouts.halfclose = "1s"
[upstream.app]
servers = ["127.0.0.1:3001"]
[upstreams.app]
server = "127.0.0.1:3001"
servers = ["127.0.0.1:3001"]
`,
			errs: []string{
				`1: drain: unknown key at the top level (valid: drain_timeout, drain_spread, max_conns, max_handshakes, fd_reserve, max_memory, engine, admin, timeouts, listeners, upstreams)`,
				`3: timeouts.idel: unknown key (did you mean "idle"?)`,
				`8: listeners[0].ipv6_only: unknown key (did you mean "ipv6only"?)`,
				`9: listeners[0].tls.crt: unknown key (did you mean "cert"?)`,
				`10: listeners[0].timeouts.halfclose: unknown key (did you mean "half_close"?)`,
				`11: upstream: unknown key (did you mean "upstreams"?)`,
				`14: upstreams.app.server: unknown key (did you mean "servers"?)`,
			},
		},
		{
			name: "misspelled upstream key also leaves upstream missing",
			in: `[[listeners]]
name = "a"
listen = "127.0.0.1:1"
upsteam = "app"
[upstreams.app]
servers = ["127.0.0.1:3001"]
`,
			errs: []string{
				`1: listeners[0]: missing required key "upstream"`,
				`4: listeners[0].upsteam: unknown key (did you mean "upstream"?)`,
			},
		},

		// ---- wrong types ----
		{
			name: "wrong types",
			in: `drain_timeout = 30
[timeouts]
idle = 3600
[[listeners]]
name = 5
listen = 8443
upstream = ["app"]
preamble = true
max_preamble = "32k"
ipv6only = "yes"
tls = "on"
timeouts = 5
[upstreams.app]
balance = 1
proxy_protocol = 2
servers = "127.0.0.1:3001"
[upstreams.b]
servers = [1.5, "127.0.0.1:1"]
[upstreams.c]
servers = [[1]]
`,
			errs: []string{
				`1: drain_timeout: expected a duration string such as "30s", got integer 30`,
				`3: timeouts.idle: expected a duration string such as "30s", got integer 3600`,
				`5: listeners[0].name: expected a string, got integer 5`,
				`6: listeners[0].listen: expected a string, got integer 8443`,
				`7: listeners[0].upstream: expected a string, got an array`,
				`8: listeners[0].preamble: expected a string, got boolean true`,
				`9: listeners[0].max_preamble: expected an integer (bytes), got string "32k"`,
				`10: listeners[0].ipv6only: expected a boolean, got string "yes"`,
				`11: listeners[0].tls: expected a table ([listeners.tls]), got string "on"`,
				`12: listeners[0].timeouts: expected a table ([listeners.timeouts]), got integer 5`,
				`14: upstreams.app.balance: expected a string, got integer 1`,
				`15: upstreams.app.proxy_protocol: expected a string, got integer 2`,
				`16: upstreams.app.servers: expected an array of server strings such as ["127.0.0.1:3001 weight=2"], got string "127.0.0.1:3001"`,
				`18: upstreams.b.servers[0]: expected a string, got float 1.5`,
				`20: upstreams.c.servers[0]: expected a string, got an array`,
			},
		},
		{
			name: "upstreams of the wrong type",
			in: `upstreams = 5
[[listeners]]
name = "a"
listen = "127.0.0.1:1"
upstream = "app"
`,
			errs: []string{
				`1: upstreams: expected a table of upstreams ([upstreams.NAME]), got integer 5`,
				`5: listeners[0].upstream: unknown upstream "app": no upstreams are defined (add an [upstreams.app] table)`,
			},
		},
		{
			name: "an upstream that is not a table is not also unknown",
			in: `[[listeners]]
name = "a"
listen = "127.0.0.1:1"
upstream = "app"
[upstreams]
app = "127.0.0.1:3001"
`,
			errs: []string{`6: upstreams.app: expected a table ([upstreams.app]), got string "127.0.0.1:3001"`},
		},

		// ---- durations ----
		{
			name: "bad durations",
			in: `drain_timeout = "-1s"
[timeouts]
handshake = "abc"
preamble = "0s"
connect = "1d"
idle = "0s"
half_close = "30"
[[listeners]]
name = "a"
listen = "127.0.0.1:1"
upstream = "app"
timeouts = { connect = "-5s" }
[upstreams.app]
servers = ["127.0.0.1:3001"]
`,
			errs: []string{
				`1: drain_timeout: duration "-1s" must not be negative`,
				`3: timeouts.handshake: invalid duration "abc" (want a Go duration: numbers with units ns, us, ms, s, m, h, e.g. "30s", "1m30s", "2h")`,
				`4: timeouts.preamble: duration "0s" must be greater than 0`,
				`5: timeouts.connect: invalid duration "1d" (want a Go duration: numbers with units ns, us, ms, s, m, h, e.g. "30s", "1m30s", "2h"; for nginx-style "1d" write "24h0m0s")`,
				`6: timeouts.idle: duration "0s" must be greater than 0 (to effectively disable the idle timeout use a long value such as "24h")`,
				`7: timeouts.half_close: invalid duration "30" (want a Go duration: numbers with units ns, us, ms, s, m, h, e.g. "30s", "1m30s", "2h"; for nginx-style "30" write "30s")`,
				`12: listeners[0].timeouts.connect: duration "-5s" must not be negative`,
			},
		},

		// ---- listen addresses ----
		{
			// Port 0 asks the kernel for a free port; several listeners may ask at once.
			name: "port 0 listen addresses",
			in: `[[listeners]]
name = "a"
listen = "127.0.0.1:0"
upstream = "app"
[[listeners]]
name = "b"
listen = "127.0.0.1:0"
upstream = "app"
[[listeners]]
name = "c"
listen = "[::]:0"
ipv6only = false
upstream = "app"
[admin]
listen = "127.0.0.1:0"
[upstreams.app]
servers = ["127.0.0.1:3001"]
`,
			want: func(t *testing.T, c *Config) {
				for _, l := range c.Listeners {
					if l.Addr.Port() != 0 {
						t.Errorf("listener %s: %v", l.Name, l.Addr)
					}
				}
				if c.Admin.Addr != netip.MustParseAddrPort("127.0.0.1:0") {
					t.Errorf("admin %v", c.Admin.Addr)
				}
			},
		},
		{
			name: "bad listen addresses",
			in: `[[listeners]]
name = "no-port"
listen = "127.0.0.1"
upstream = "app"
[[listeners]]
name = "big-port"
listen = "127.0.0.1:99999"
upstream = "app"
[[listeners]]
name = "signed-port"
listen = "127.0.0.1:+1"
upstream = "app"
[[listeners]]
name = "named-port"
listen = "127.0.0.1:https"
upstream = "app"
[[listeners]]
name = "host-name"
listen = "localhost:8443"
upstream = "app"
[[listeners]]
name = "no-brackets"
listen = "::1:8443"
upstream = "app"
[[listeners]]
name = "bracket-no-port"
listen = "[::1]"
upstream = "app"
[[listeners]]
name = "no-host"
listen = ":8443"
upstream = "app"
[[listeners]]
name = "v4-in-brackets"
listen = "[127.0.0.1]:80"
upstream = "app"
[[listeners]]
name = "bad-v4"
listen = "300.1.1.1:80"
upstream = "app"
[[listeners]]
name = "bare-v6"
listen = "fe80::1"
upstream = "app"
[upstreams.app]
servers = ["127.0.0.1:3001"]
`,
			errs: []string{
				`3: listeners[0].listen: invalid address "127.0.0.1": missing port (want 127.0.0.1:PORT)`,
				`7: listeners[1].listen: invalid address "127.0.0.1:99999": port 99999 out of range 1-65535`,
				`11: listeners[2].listen: invalid address "127.0.0.1:+1": port "+1" is not a number`,
				`15: listeners[3].listen: invalid address "127.0.0.1:https": port "https" is not a number`,
				`19: listeners[4].listen: invalid address "localhost:8443": host "localhost" is not an IP address (listen addresses are not resolved; use e.g. 127.0.0.1 or [::1])`,
				`23: listeners[5].listen: invalid address "::1:8443": IPv6 address must be in brackets: [::1]:8443`,
				`27: listeners[6].listen: invalid address "[::1]": missing port (want [::1]:PORT)`,
				`31: listeners[7].listen: invalid address ":8443": missing host (use 0.0.0.0:8443 or [::]:8443 to listen on all addresses)`,
				`35: listeners[8].listen: invalid address "[127.0.0.1]:80": invalid IPv6 address "127.0.0.1" in brackets`,
				`39: listeners[9].listen: invalid address "300.1.1.1:80": invalid IPv4 address "300.1.1.1"`,
				`43: listeners[10].listen: invalid address "fe80::1": IPv6 address needs brackets and a port: [fe80::1]:PORT`,
			},
		},
		{
			name: "duplicate names, duplicate and overlapping listen addresses",
			in: `[[listeners]]
name = "a"
listen = "127.0.0.1:8443"
upstream = "app"
[[listeners]]
name = "a"
listen = "127.0.0.1:8443"
upstream = "app"
[[listeners]]
name = "c"
listen = "0.0.0.0:8443"
upstream = "app"
[[listeners]]
name = "d"
listen = "[::]:9000"
ipv6only = false
upstream = "app"
[[listeners]]
name = "e"
listen = "10.0.0.1:9000"
upstream = "app"
[upstreams.app]
servers = ["127.0.0.1:3001"]
`,
			errs: []string{
				`6: listeners[1].name: duplicate listener name "a" (also listeners[0] at line 1)`,
				`7: listeners[1].listen: duplicate listen address "127.0.0.1:8443": already used by listeners[0] "a" (line 1)`,
				`11: listeners[2].listen: "0.0.0.0:8443" cannot be bound next to listeners[0] "a" ("127.0.0.1:8443", line 1): a wildcard address overlaps every address of its family on the same port`,
				`20: listeners[4].listen: "10.0.0.1:9000" cannot be bound next to listeners[3] "d" ("[::]:9000", line 13): an IPv6 wildcard with ipv6only = false also covers IPv4`,
			},
		},

		// ---- required keys, enums, ranges ----
		{
			name: "missing and empty required keys",
			in: `[[listeners]]
listen = "127.0.0.1:1"
upstream = "app"
[[listeners]]
name = " "
upstream = ""
listen = ""
[upstreams.app]
servers = ["127.0.0.1:3001"]
`,
			errs: []string{
				`1: listeners[0]: missing required key "name"`,
				`5: listeners[1].name: must not be empty`,
				`6: listeners[1].upstream: must not be empty`,
				`7: listeners[1].listen: must not be empty`,
			},
		},
		{
			name: "balancing methods of package balance: least-conn, HAProxy source with ids, balance_factor",
			in: `[[listeners]]
name = "a"
listen = "127.0.0.1:1"
upstream = "lc"
[upstreams.lc]
balance = "least-conn"
servers = ["127.0.0.1:3001 weight=2", "127.0.0.1:3002"]
[upstreams.src]
balance = "source-consistent"
balance_factor = 125
servers = ["127.0.0.1:3001 id=7 weight=256", "127.0.0.1:3002"]
[upstreams.ring]
balance_factor = 100
servers = ["127.0.0.1:3001"]
`,
			want: func(t *testing.T, c *Config) {
				lc, src, ring := c.Upstreams["lc"], c.Upstreams["src"], c.Upstreams["ring"]
				if lc.Balance != "least-conn" || src.Balance != "source-consistent" || src.BalanceFactor != 125 ||
					src.Servers[0].ID != 7 || src.Servers[1].ID != 0 || ring.BalanceFactor != 100 {
					t.Errorf("got %+v %+v %+v", lc, src, ring)
				}
			},
		},
		{
			name: "balance_factor below 100 or on a method without it; id= off HAProxy methods; HAProxy weight and id rules",
			in: `[[listeners]]
name = "a"
listen = "127.0.0.1:1"
upstream = "h"
[upstreams.h]
balance = "source"
balance_factor = 150
servers = ["127.0.0.1:3001 id=3 weight=257", "127.0.0.1:3002 id=3"]
[upstreams.n]
balance = "hash-consistent"
balance_factor = 99
servers = ["127.0.0.1:3001 id=1"]
[[listeners]]
name = "b"
listen = "127.0.0.1:2"
upstream = "lc"
hash_key = "header:X-User"
preamble = "http"
[upstreams.lc]
balance = "least-conn"
servers = ["127.0.0.1:3001"]
`,
			errs: []string{
				`7: upstreams.h.balance_factor: balance "source" takes no balance_factor`,
				`8: upstreams.h.servers[0]: server "127.0.0.1:3001": weight 257 is more than HAProxy's 256`,
				`8: upstreams.h.servers[1]: server "127.0.0.1:3002": id=3 already given to servers[0]`,
				`11: upstreams.n.balance_factor: 99 is below 100`,
				`12: upstreams.n.servers[0]: server "127.0.0.1:3001": id=1 applies to the HAProxy methods only`,
				`17: listeners[1].hash_key: upstream "lc" uses least-conn, which reads no key`,
			},
		},
		{
			name: "unknown enum values and max_preamble range",
			in: `[[listeners]]
name = "a"
listen = "127.0.0.1:1"
upstream = "app"
preamble = "ws"
max_preamble = 1023
[[listeners]]
name = "b"
listen = "127.0.0.1:2"
upstream = "app"
preamble = ""
max_preamble = 1048577
[upstreams.app]
balance = "round-robin"
proxy_protocol = "V2"
servers = ["127.0.0.1:3001"]
`,
			errs: []string{
				`5: listeners[0].preamble: unknown value "ws"; valid: "http", "websocket", "none"`,
				`6: listeners[0].max_preamble: 1023 out of range 1024-1048576`,
				`11: listeners[1].preamble: unknown value ""; valid: "http", "websocket", "none"`,
				`12: listeners[1].max_preamble: 1048577 out of range 1024-1048576`,
				`14: upstreams.app.balance: unknown value "round-robin"; valid: "hash-consistent", "hash"`,
				`15: upstreams.app.proxy_protocol: unknown value "V2" (did you mean "v2"?); valid: "v1", "v2", "" (off)`,
			},
		},
		{
			name: "unknown upstream lists the defined ones",
			in: `[[listeners]]
name = "a"
listen = "127.0.0.1:1"
upstream = "ap"
[[listeners]]
name = "b"
listen = "127.0.0.1:2"
upstream = "zzz"
[upstreams.app]
servers = ["127.0.0.1:3001"]
[upstreams.api]
servers = ["127.0.0.1:3002"]
`,
			errs: []string{
				`4: listeners[0].upstream: unknown upstream "ap" (did you mean "api"?); defined: "api", "app"`,
				`8: listeners[1].upstream: unknown upstream "zzz"; defined: "api", "app"`,
			},
		},

		// ---- TLS ----
		{
			name: "tls without cert or key, missing and unreadable files",
			in: `[[listeners]]
name = "a"
listen = "127.0.0.1:1"
upstream = "app"
[listeners.tls]
[[listeners]]
name = "b"
listen = "127.0.0.1:2"
upstream = "app"
tls.key = "certs/site.key"
[[listeners]]
name = "c"
listen = "127.0.0.1:3"
upstream = "app"
  [listeners.tls]
  cert = "certs/nope.pem"
  key = "certs"
[upstreams.app]
servers = ["127.0.0.1:3001"]
`,
			errs: []string{
				`5: listeners[0].tls: missing required key "cert"`,
				`5: listeners[0].tls: missing required key "key"`,
				`10: listeners[1].tls: missing required key "cert"`,
				`16: listeners[2].tls.cert: cannot read certificate "certs/nope.pem" (resolved to "` + abs(t, "testdata/certs/nope.pem") + `"): no such file or directory`,
				`17: listeners[2].tls.key: cannot read key "certs" (resolved to "` + abs(t, "testdata/certs") + `"): not a regular file`,
			},
		},

		// ---- operations: admin, limits, PROXY in, several certificates, mTLS ----
		{
			name: "operations keys",
			in: `drain_spread = "2s"
max_conns = 50000
max_handshakes = 64
engine = "goroutines"
[admin]
[[listeners]]
name = "a"
listen = "[::]:8443"
upstream = "app"
max_conns = 1000
max_conns_per_client = 20
proxy_protocol_in = { trusted = ["10.0.0.0/8", "127.0.0.1", "fd00::/8"], timeout = "2s" }
  [listeners.tls]
  cert = "certs/site.pem"
  key = "certs/site.key"
  client_ca = "certs/site.pem"
  client_auth = "optional"
  [[listeners.tls.certs]]
  cert = "certs/site.pem"
  key = "certs/site.key"
[upstreams.app]
servers = ["127.0.0.1:3001"]
`,
			want: func(t *testing.T, c *Config) {
				if c.DrainSpread != 2*time.Second || c.MaxConns != 50000 || c.MaxHandshakes != 64 || c.Engine != EngineGoroutines {
					t.Errorf("limits %v %d %d %q", c.DrainSpread, c.MaxConns, c.MaxHandshakes, c.Engine)
				}
				if c.Admin == nil || c.Admin.Addr != netip.MustParseAddrPort("127.0.0.1:9090") || c.Admin.Pprof {
					t.Errorf("admin %+v, want the loopback default without pprof", c.Admin)
				}
				l := c.Listeners[0]
				if l.MaxConns != 1000 || l.MaxConnsPerClient != 20 {
					t.Errorf("listener limits %d %d", l.MaxConns, l.MaxConnsPerClient)
				}
				wantPI := &ProxyIn{Timeout: 2 * time.Second, Trusted: []netip.Prefix{
					netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("127.0.0.1/32"), netip.MustParsePrefix("fd00::/8")}}
				deepEqual(t, l.ProxyIn, wantPI)
				deepEqual(t, l.TLS, &TLS{Certs: []CertKey{{site, siteKey}, {site, siteKey}}, ClientCA: site, ClientAuth: ClientAuthOptional})
			},
		},
		{
			name: "operations keys: every problem",
			in: `drain_spread = "soon"
max_conns = -1
max_handshakes = 0
engine = "goroutine"
[admin]
listen = "localhost:9090"
[[listeners]]
name = "a"
listen = "127.0.0.1:8443"
upstream = "app"
max_conns_per_client = "ten"
proxy_protocol_in = { trusted = ["10.0.0.1/8", "nope"], timeot = "1s" }
  [listeners.tls]
  client_auth = "always"
  [[listeners.tls.certs]]
  cert = "certs/site.pem"
[upstreams.app]
servers = ["127.0.0.1:3001"]
`,
			errs: []string{
				`1: drain_spread: invalid duration "soon"`,
				`2: max_conns: -1 out of range`,
				`3: max_handshakes: 0 out of range`,
				`4: engine: unknown value "goroutine" (did you mean "goroutines"?)`,
				`6: admin.listen: invalid address "localhost:9090"`,
				`11: listeners[0].max_conns_per_client: expected an integer`,
				`12: listeners[0].proxy_protocol_in.timeot: unknown key (did you mean "timeout"?)`,
				`12: listeners[0].proxy_protocol_in.trusted[0]: invalid network "10.0.0.1/8": host bits are set; did you mean 10.0.0.0/8?`,
				`12: listeners[0].proxy_protocol_in.trusted[1]: invalid network "nope"`,
				`14: listeners[0].tls.client_auth: unknown value "always"`,
				`15: listeners[0].tls.certs[0]: missing required key "key"`,
			},
		},
		{
			name: "session ticket keys",
			in: `[[listeners]]
name = "a"
listen = "127.0.0.1:8443"
upstream = "app"
  [listeners.tls]
  cert = "certs/site.pem"
  key = "certs/site.key"
  session_ticket_key = ["tickets/b.key", "tickets/a.key"]
[upstreams.app]
servers = ["127.0.0.1:3001"]
`,
			want: func(t *testing.T, c *Config) {
				deepEqual(t, c.Listeners[0].TLS.TicketKeys, []string{abs(t, "testdata/tickets/b.key"), abs(t, "testdata/tickets/a.key")})
			},
		},
		{
			name: "session ticket keys: every problem",
			in: `[[listeners]]
name = "a"
listen = "127.0.0.1:8443"
upstream = "app"
  [listeners.tls]
  cert = "certs/site.pem"
  key = "certs/site.key"
  session_ticket_key = ["tickets/short.key", "tickets/none.key", "certs", 7, "tickets/a.key", "tickets/a.key"]
[[listeners]]
name = "b"
listen = "127.0.0.1:8444"
upstream = "app"
  [listeners.tls]
  cert = "certs/site.pem"
  key = "certs/site.key"
  session_ticket_key = "tickets/a.key"
[[listeners]]
name = "c"
listen = "127.0.0.1:8445"
upstream = "app"
  [listeners.tls]
  cert = "certs/site.pem"
  key = "certs/site.key"
  session_ticket_key = []
[upstreams.app]
servers = ["127.0.0.1:3001"]
`,
			errs: []string{
				`8: listeners[0].tls.session_ticket_key[0]: session ticket key ` + abs(t, "testdata/tickets/short.key") + `: must be 80 or 48 bytes (as for nginx ssl_session_ticket_key, e.g. ` + "`openssl rand 80 > FILE`" + `), is 64 bytes`,
				`8: listeners[0].tls.session_ticket_key[1]: cannot read session ticket key "tickets/none.key"`,
				`8: listeners[0].tls.session_ticket_key[2]: cannot read session ticket key "certs"`,
				`8: listeners[0].tls.session_ticket_key[3]: expected a string, got integer`,
				`8: listeners[0].tls.session_ticket_key[5]: duplicate key file "tickets/a.key" (also session_ticket_key[4])`,
				`16: listeners[1].tls.session_ticket_key: expected an array of key files (session_ticket_key = ["ticket.key"]), got string`,
				`24: listeners[2].tls.session_ticket_key: must name at least one key file`,
			},
		},
		{
			name: "key exchange groups",
			in: `[[listeners]]
name = "a"
listen = "127.0.0.1:8443"
upstream = "app"
  [listeners.tls]
  cert = "certs/site.pem"
  key = "certs/site.key"
  curves = ["x25519", "prime256v1", "P-384"]
[upstreams.app]
servers = ["127.0.0.1:3001"]
`,
			want: func(t *testing.T, c *Config) {
				deepEqual(t, c.Listeners[0].TLS.Curves, []string{"X25519", "P-256", "P-384"})
			},
		},
		{
			name: "key exchange groups: every problem",
			in: `[[listeners]]
name = "a"
listen = "127.0.0.1:8443"
upstream = "app"
  [listeners.tls]
  cert = "certs/site.pem"
  key = "certs/site.key"
  curves = ["X25519", "brainpool", 7, "secp256r1", "P-256", "x25519"]
[[listeners]]
name = "c"
listen = "127.0.0.1:8445"
upstream = "app"
  [listeners.tls]
  cert = "certs/site.pem"
  key = "certs/site.key"
  curves = "X25519"
[[listeners]]
name = "b"
listen = "127.0.0.1:8444"
upstream = "app"
  [listeners.tls]
  cert = "certs/site.pem"
  key = "certs/site.key"
  curves = []
[upstreams.app]
servers = ["127.0.0.1:3001"]
`,
			errs: []string{
				`8: listeners[0].tls.curves[1]: unknown key exchange group "brainpool" (known: X25519MLKEM768, SecP256r1MLKEM768, SecP384r1MLKEM1024, X25519, P-256, P-384, P-521)`,
				`8: listeners[0].tls.curves[2]: expected a string, got integer`,
				`8: listeners[0].tls.curves[4]: duplicate group "P-256" (also curves[3])`,
				`8: listeners[0].tls.curves[5]: duplicate group "x25519" (also curves[0])`,
				`16: listeners[1].tls.curves: expected an array of key exchange groups (curves = ["X25519MLKEM768", "X25519", "P-256"]), got string`,
				`24: listeners[2].tls.curves: must name at least one key exchange group`,
			},
		},
		{
			name: "admin with pprof",
			in: `[admin]
listen = "127.0.0.1:9191"
pprof = true
[[listeners]]
name = "a"
listen = "127.0.0.1:8443"
upstream = "app"
[upstreams.app]
servers = ["127.0.0.1:3001"]
`,
			want: func(t *testing.T, c *Config) {
				deepEqual(t, c.Admin, &Admin{Listen: "127.0.0.1:9191", Addr: netip.MustParseAddrPort("127.0.0.1:9191"), Pprof: true})
			},
		},
		{
			name: "admin pprof: every problem",
			in: `[admin]
pprof = "yes"
prof = true
[[listeners]]
name = "a"
listen = "127.0.0.1:8443"
upstream = "app"
[upstreams.app]
servers = ["127.0.0.1:3001"]
`,
			errs: []string{
				`2: admin.pprof: expected a boolean, got string "yes"`,
				`3: admin.prof: unknown key (did you mean "pprof"?)`,
			},
		},
		{
			name: "admin hosts and token file",
			in: `[admin]
hosts = ["Proxy.Example.com", "10.1.2.3"]
token_file = "admin.token"
[[listeners]]
name = "a"
listen = "127.0.0.1:8443"
upstream = "app"
[upstreams.app]
servers = ["127.0.0.1:3001"]
`,
			want: func(t *testing.T, c *Config) {
				deepEqual(t, c.Admin, &Admin{Listen: "127.0.0.1:9090", Addr: netip.MustParseAddrPort("127.0.0.1:9090"),
					Hosts: []string{"proxy.example.com", "10.1.2.3"}, TokenFile: abs(t, "testdata/admin.token"), Token: "s3cret-token"})
			},
		},
		{
			// Every token_file problem names the file, line and key, as tether check prints it.
			name: "admin hosts and token file: every problem",
			in: `[admin]
hosts = ["http://proxy.example.com", "proxy:9090", "", 7]
token_file = "nope.token"
[[listeners]]
name = "a"
listen = "127.0.0.1:8443"
upstream = "app"
[admin2]
[upstreams.app]
servers = ["127.0.0.1:3001"]
`,
			errs: []string{
				`2: admin.hosts[0]: invalid host name "http://proxy.example.com"`,
				`2: admin.hosts[1]: invalid host name "proxy:9090"`,
				`2: admin.hosts[2]: invalid host name ""`,
				`2: admin.hosts[3]: expected a string`,
				`3: admin.token_file: cannot read token file "nope.token" (resolved to "` + abs(t, "testdata/nope.token") + `"): no such file or directory`,
				`8: admin2: unknown key (did you mean "admin"?)`,
			},
		},
		{
			name: "admin token file empty",
			in:   "[admin]\ntoken_file = \"empty.token\"\n[[listeners]]\nname = \"a\"\nlisten = \"127.0.0.1:1\"\nupstream = \"app\"\n[upstreams.app]\nservers = [\"127.0.0.1:3001\"]\n",
			errs: []string{`2: admin.token_file: token file "empty.token" is empty`},
		},
		{
			name: "admin token file of two words",
			in:   "[admin]\ntoken_file = \"two-words.token\"\n[[listeners]]\nname = \"a\"\nlisten = \"127.0.0.1:1\"\nupstream = \"app\"\n[upstreams.app]\nservers = [\"127.0.0.1:3001\"]\n",
			errs: []string{`2: admin.token_file: token file "two-words.token" holds white space`},
		},
		// ---- sticky keys and forwarded headers ----
		{
			name: "hash keys",
			in: `[[listeners]]
name = "a"
listen = "127.0.0.1:1"
upstream = "app"
hash_key = "header:X-Forwarded-For:first"
forwarded_headers = { trusted = ["10.0.0.0/8"] }
[[listeners]]
name = "b"
listen = "127.0.0.1:2"
upstream = "app"
hash_key = "cookie:io"
forwarded_headers = {}
[[listeners]]
name = "c"
listen = "127.0.0.1:3"
upstream = "app"
hash_key = "query:sid"
[upstreams.app]
servers = ["127.0.0.1:3001"]
`,
			want: func(t *testing.T, c *Config) {
				deepEqual(t, c.Listeners[0].HashKey, HashKey{Kind: KeyHeader, Name: "X-Forwarded-For", Hop: HopFirst})
				deepEqual(t, c.Listeners[0].Forwarded, &Forwarded{Trusted: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}})
				deepEqual(t, c.Listeners[1].HashKey, HashKey{Kind: KeyCookie, Name: "io"})
				deepEqual(t, c.Listeners[1].Forwarded, &Forwarded{})
				deepEqual(t, c.Listeners[2].HashKey, HashKey{Kind: KeyQuery, Name: "sid"})
				if c.Listeners[2].HashKey.String() != "query:sid" {
					t.Errorf("String() = %q", c.Listeners[2].HashKey.String())
				}
			},
		},
		{
			name: "hash keys: every problem",
			in: `[[listeners]]
name = "a"
listen = "127.0.0.1:1"
upstream = "app"
hash_key = "header:X Forwarded"
[[listeners]]
name = "b"
listen = "127.0.0.1:2"
upstream = "app"
hash_key = "header:X-Forwarded-For:middle"
[[listeners]]
name = "c"
listen = "127.0.0.1:3"
upstream = "app"
preamble = "none"
hash_key = "cookie:sid"
forwarded_headers = { trusted = "10.0.0.0/8" }
[[listeners]]
name = "d"
listen = "127.0.0.1:4"
upstream = "app"
hash_key = "ip"
[upstreams.app]
servers = ["127.0.0.1:3001"]
`,
			errs: []string{
				`5: listeners[0].hash_key: invalid hash key "header:X Forwarded": "X Forwarded" is not a header name`,
				`10: listeners[1].hash_key: invalid hash key "header:X-Forwarded-For:middle": unknown hop "middle"`,
				`16: listeners[2].hash_key: "cookie:sid" is read from the request head, but preamble = "none" reads none`,
				`17: listeners[2].forwarded_headers.trusted: expected an array of networks`,
				`17: listeners[2].forwarded_headers: headers go into the request head`,
				`22: listeners[3].hash_key: invalid hash key "ip": want "remote_addr"`,
			},
		},
		// ---- upstreams and server lines ----
		{
			name: "upstreams without servers",
			in: `[[listeners]]
name = "a"
listen = "127.0.0.1:1"
upstream = "app"
[upstreams.app]
balance = "hash"
[upstreams.empty]
servers = []
[upstreams.""]
servers = ["127.0.0.1:3001"]
`,
			errs: []string{
				`5: upstreams.app: no servers: add servers = ["host:port", ...]`,
				`8: upstreams.empty.servers: no servers in upstream`,
				`9: upstreams."": upstream name must not be empty`,
			},
		},
		{
			name: "every malformed server line is reported",
			in: `[[listeners]]
name = "a"
listen = "127.0.0.1:1"
upstream = "app"
[upstreams.app]
servers = [
  "127.0.0.1:3001 weigth=2",
  "127.0.0.1:3002 weight=0",
  "127.0.0.1:3003 weight=abc max_fails=-1",
  "127.0.0.1:3004 fail_timeout=xyz",
  "127.0.0.1",
  "127.0.0.1:0",
  "",
  "unix:/run/app.sock",
  "127.0.0.1:3005 backup",
  "127.0.0.1:3006",
  "127.0.0.1:3006 weight=2",
]
`,
			errs: []string{
				`7: upstreams.app.servers[0]: server "127.0.0.1:3001 weigth=2": invalid parameter "weigth=2": unknown parameter (did you mean "weight"?)`,
				`8: upstreams.app.servers[1]: server "127.0.0.1:3002 weight=0": invalid parameter "weight=0": weight must be an integer from 1 to 65536`,
				`9: upstreams.app.servers[2]: server "127.0.0.1:3003 weight=abc max_fails=-1": invalid parameter "weight=abc": weight must be an integer from 1 to 65536`,
				`9: upstreams.app.servers[2]: server "127.0.0.1:3003 weight=abc max_fails=-1": invalid parameter "max_fails=-1": max_fails must be a non-negative integer`,
				`10: upstreams.app.servers[3]: server "127.0.0.1:3004 fail_timeout=xyz": invalid parameter "fail_timeout=xyz": fail_timeout must be an nginx time such as 10s or 1m30s: unexpected character 'x'`,
				`11: upstreams.app.servers[4]: server "127.0.0.1": invalid address "127.0.0.1": missing port (want 127.0.0.1:PORT)`,
				`12: upstreams.app.servers[5]: server "127.0.0.1:0": invalid address "127.0.0.1:0": port 0 out of range 1-65535`,
				`13: upstreams.app.servers[6]: empty server line (want ADDRESS [PARAMETERS...])`,
				`14: upstreams.app.servers[7]: server "unix:/run/app.sock": invalid address "unix:/run/app.sock": unix domain sockets are not supported`,
				`17: upstreams.app.servers[10]: duplicate server "127.0.0.1:3006" (also servers[9]); use weight= instead of repeating a server`,
			},
		},

		{
			name: "only backup servers; total weight bound",
			in: `[[listeners]]
name = "a"
listen = "127.0.0.1:1"
upstream = "app"
[upstreams.app]
servers = ["127.0.0.1:3001 backup", "127.0.0.1:3002 backup"]
[upstreams.heavy]
servers = [
  "127.0.0.1:3001 weight=65536",
  "127.0.0.1:3002 weight=1",
  "127.0.0.1:3003 weight=65536 backup",
]
[upstreams.broken]
servers = ["127.0.0.1:3001 backup", "127.0.0.1:0"]
`,
			errs: []string{
				`6: upstreams.app.servers: no servers in upstream other than backup ones`,
				`8: upstreams.heavy.servers: total weight of the non-backup servers is 65537, more than 65536`,
				// Not also "only backup": the invalid line may have been the primary.
				`14: upstreams.broken.servers[1]: server "127.0.0.1:0": invalid address "127.0.0.1:0": port 0 out of range 1-65535`,
			},
		},

		// ---- several problems at once: all reported, in file order ----
		{
			name: "all problems of a file, in file order",
			in:   readFile(t, "testdata/invalid.toml"),
			errs: []string{
				`2: drain_timeout: duration "-1s" must not be negative`,
				`5: timeouts.idel: unknown key (did you mean "idle"?)`,
				`7: listeners[0]: missing required key "upstream"`,
				`9: listeners[0].listen: invalid address "localhost:8443": host "localhost" is not an IP address`,
				`10: listeners[0].upsteam: unknown key (did you mean "upstream"?)`,
				`11: listeners[0].tls: missing required key "key"`,
				`12: listeners[0].tls.cert: cannot read certificate "certs/missing.pem" (resolved to "` + abs(t, "testdata/certs/missing.pem") + `"): no such file or directory`,
				`16: listeners[1].name: duplicate listener name "wss" (also listeners[0] at line 7)`,
				`17: listeners[1].listen: invalid address "127.0.0.1:99999": port 99999 out of range 1-65535`,
				`18: listeners[1].upstream: unknown upstream "ap" (did you mean "app"?); defined: "app"`,
				`19: listeners[1].max_preamble: 10 out of range 1024-1048576`,
				`22: upstreams.app.balance: unknown value "round-robin"; valid: "hash-consistent", "hash"`,
				`24: upstreams.app.servers[0]: server "127.0.0.1:3001 weight=0": invalid parameter "weight=0": weight must be an integer from 1 to 65536`,
				`25: upstreams.app.servers[1]: server "127.0.0.1": invalid address "127.0.0.1": missing port`,
			},
		},
	}

	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Parse(testFile, []byte(tc.in))
			if tc.want != nil {
				if err != nil {
					t.Fatalf("unexpected error:\n%v", err)
				}
				tc.want(t, c)
				return
			}
			if err == nil {
				t.Fatalf("no error, want %d problems", len(tc.errs))
			}
			if c != nil {
				t.Errorf("config %+v returned with an error", c)
			}
			var ps Problems
			if !errors.As(err, &ps) {
				t.Fatalf("error %T is not Problems: %v", err, err)
			}
			for i := 0; i < max(len(ps), len(tc.errs)); i++ {
				var got, want string
				if i < len(ps) {
					got = ps[i].Error()
				}
				if i < len(tc.errs) {
					want = testFile + ":" + tc.errs[i]
				}
				if !strings.HasPrefix(got, want) || (want == "" && got != "") {
					t.Errorf("problem %d:\n got: %s\nwant: %s...", i, got, want)
				}
			}
		})
	}
}

func TestLoad(t *testing.T) {
	c, err := Load("testdata/multi.toml")
	if err != nil {
		t.Fatal(err)
	}
	if c.File != "testdata/multi.toml" || c.DrainTimeout != time.Minute || len(c.Listeners) != 2 || len(c.Upstreams) != 2 {
		t.Fatalf("config %+v", c)
	}
	pub := c.Listeners[0]
	if pub.Name != "public-wss" || pub.IPv6Only || pub.Preamble != PreambleWebSocket || pub.TLS == nil ||
		pub.Timeouts.Idle != 30*time.Minute || pub.Timeouts.HalfClose != 30*time.Minute {
		t.Errorf("public listener %+v", pub)
	}
	if in := c.Listeners[1]; in.Timeouts.Connect != 2*time.Second || in.TLS != nil || in.Line != 16 {
		t.Errorf("internal listener %+v", in)
	}
	api := c.Upstreams["api-v2"]
	if api.Balance != BalanceHash || api.ProxyProtocol != ProxyV1 || api.Line != 30 ||
		len(api.Servers) != 1 || api.Servers[0].Name != "api.internal:9000" {
		t.Errorf("api-v2 %+v", api)
	}
	chat := c.Upstreams["chat"]
	if len(chat.Servers) != 3 || chat.Servers[0].Weight != 3 || chat.Servers[1].MaxConns != 1000 || !chat.Servers[2].Down {
		t.Errorf("chat %+v", chat)
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load("testdata/does-not-exist.toml")
	if !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("error %v does not wrap fs.ErrNotExist", err)
	}
	if want := "testdata/does-not-exist.toml: cannot read configuration: no such file or directory"; err.Error() != want {
		t.Errorf("error %q, want %q", err, want)
	}
}

func TestProblemError(t *testing.T) {
	tests := []struct {
		p    Problem
		want string
	}{
		{Problem{File: "tether.toml", Line: 12, Key: "listeners[0].listen", Msg: "bad"}, "tether.toml:12: listeners[0].listen: bad"},
		{Problem{File: "tether.toml", Key: "listeners", Msg: "none"}, "tether.toml: listeners: none"},
		{Problem{File: "tether.toml", Line: 3, Msg: "syntax"}, "tether.toml:3: syntax"},
		{Problem{Line: 3, Key: "k", Msg: "m"}, "line 3: k: m"},
		{Problem{Msg: "m"}, "m"},
	}
	for _, tc := range tests {
		if got := tc.p.Error(); got != tc.want {
			t.Errorf("%+v: got %q, want %q", tc.p, got, tc.want)
		}
	}
	ps := Problems{tests[0].p, tests[1].p}
	if got, want := ps.Error(), tests[0].want+"\n"+tests[1].want; got != want {
		t.Errorf("Problems.Error() = %q, want %q", got, want)
	}
}

func readFile(t testing.TB, name string) string {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func deepEqual(t *testing.T, got, want any) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got:\n%s\nwant:\n%s", dump(got), dump(want))
	}
}

// dump formats v with pointers followed, for failure messages.
func dump(v any) string {
	switch v := v.(type) {
	case *Config:
		if v == nil {
			return "Config:nil"
		}
		s := fmt.Sprintf("File:%s DrainTimeout:%v DrainSpread:%v MaxConns:%d MaxHandshakes:%d FDReserve:%d MaxMemory:%d Admin:%+v", v.File, v.DrainTimeout, v.DrainSpread, v.MaxConns, v.MaxHandshakes, v.FDReserve, v.MaxMemory, v.Admin)
		for _, l := range v.Listeners {
			s += "\n  listener " + dump(l)
		}
		names := make([]string, 0, len(v.Upstreams))
		for n := range v.Upstreams {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			s += "\n  upstream " + dump(v.Upstreams[n])
		}
		return s
	case *Listener:
		l := *v
		l.TLS = nil // print the pointee, not the pointer
		return fmt.Sprintf("%+v TLS:%s", l, dump(v.TLS))
	case *TLS:
		if v == nil {
			return "nil"
		}
		return fmt.Sprintf("%+v", *v)
	case *Upstream:
		return fmt.Sprintf("%+v", *v)
	}
	return fmt.Sprintf("%+v", v)
}

// TestSocketOptionsOffLinux pins one of issue 10's smaller defects: off Linux, ipv6only = false
// and reuseport = true were accepted and silently ignored. A build that cannot set them refuses
// them with the file, line and key; the defaults (ipv6only = true, no reuseport) stay accepted.
func TestSocketOptionsOffLinux(t *testing.T) {
	defer func(was bool) { socketOptionsSupported = was }(socketOptionsSupported)
	socketOptionsSupported = false
	tests := []struct {
		name, keys string
		errs       []string
	}{
		{"defaults", "", nil},
		{"explicit defaults", "ipv6only = true\nreuseport = false\n", nil},
		{"ipv6only off", "ipv6only = false\n", []string{`5: listeners[0].ipv6only: ipv6only = false needs Linux`}},
		{"reuseport on", "reuseport = true\n", []string{`5: listeners[0].reuseport: reuseport = true needs Linux`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := "[[listeners]]\nname = \"a\"\nlisten = \"[::1]:8443\"\nupstream = \"app\"\n" + tc.keys +
				"[upstreams.app]\nservers = [\"127.0.0.1:3001\"]\n"
			_, err := Parse(testFile, []byte(in))
			var ps Problems
			errors.As(err, &ps)
			if len(ps) != len(tc.errs) {
				t.Fatalf("problems %v, want %d", err, len(tc.errs))
			}
			for i, want := range tc.errs {
				if got := ps[i].Error(); !strings.HasPrefix(got, testFile+":"+want) {
					t.Errorf("problem %d:\n got: %s\nwant: %s...", i, got, want)
				}
			}
		})
	}
}
