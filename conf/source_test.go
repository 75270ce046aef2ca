package conf

import (
	"net/netip"
	"reflect"
	"testing"
)

// TestSource pins the parsing and checks of an upstream's source addresses (issue 12 item 1):
// IP literals of this host, without port, unique, covering the family of every literal backend
// and only families some backend has; each problem names file, line and key.
func TestSource(t *testing.T) {
	doc := func(servers, source string) string {
		return "[[listeners]]\nname = \"a\"\nlisten = \"127.0.0.1:8443\"\nupstream = \"app\"\n\n[upstreams.app]\n" +
			"servers = [" + servers + "]\nsource = " + source + "\n"
	}
	addrs := func(s ...string) []netip.Addr {
		var out []netip.Addr
		for _, a := range s {
			out = append(out, netip.MustParseAddr(a))
		}
		return out
	}
	v4 := `"127.0.0.1:3001", "127.0.0.1:3002"`
	tests := []struct {
		name    string
		servers string
		source  string
		want    []netip.Addr
		errs    []string // after "testdata/t.toml:"; the source key is on line 8
	}{
		// Valid.
		{name: "loopback sources", servers: v4, source: `["127.0.0.2", "127.0.0.3"]`, want: addrs("127.0.0.2", "127.0.0.3")},
		{name: "both families", servers: `"127.0.0.1:3001", "[::1]:3002"`, source: `["127.0.0.2", "::1"]`, want: addrs("127.0.0.2", "::1")},
		{name: "a named backend may be either family", servers: `"localhost:3001"`, source: `["::1"]`, want: addrs("::1")},

		// Malformed.
		{name: "not an array", servers: v4, source: `"127.0.0.2"`, errs: []string{`8: upstreams.app.source: expected an array of local addresses`}},
		{name: "empty", servers: v4, source: `[]`, errs: []string{`8: upstreams.app.source: empty list`}},
		{name: "bad entries", servers: v4, source: `["127.0.0.2:4000", "[::1]:80", "host.example", "0.0.0.0", "::ffff:127.0.0.2", "fe80::1%lo", "224.0.0.1", 7]`, errs: []string{
			`8: upstreams.app.source[0]: invalid source address "127.0.0.2:4000": no port`,
			`8: upstreams.app.source[1]: invalid source address "[::1]:80": no port`,
			`8: upstreams.app.source[2]: invalid source address "host.example": want an IP address`,
			`8: upstreams.app.source[3]: invalid source address "0.0.0.0": not a source`,
			`8: upstreams.app.source[4]: invalid source address "::ffff:127.0.0.2": write an IPv4 address as 127.0.0.2`,
			`8: upstreams.app.source[5]: invalid source address "fe80::1%lo": zones are not supported`,
			`8: upstreams.app.source[6]: invalid source address "224.0.0.1": a multicast address is not a source`,
			`8: upstreams.app.source[7]: expected a string, got integer 7`,
		}},
		{name: "duplicate", servers: v4, source: `["127.0.0.2", "127.0.0.3", "127.0.0.2"]`, errs: []string{
			`8: upstreams.app.source[2]: duplicate source address 127.0.0.2 (also source[0])`,
		}},

		// Not local (192.0.2.0/24 is TEST-NET-1, never assigned to a host).
		{name: "not local", servers: v4, source: `["127.0.0.2", "192.0.2.7"]`, errs: []string{
			`8: upstreams.app.source[1]: source address 192.0.2.7 is not an address of this host (bind: cannot assign requested address)`,
		}},

		// Families.
		{name: "IPv6 backend without IPv6 source", servers: `"127.0.0.1:3001", "[::1]:3002"`, source: `["127.0.0.2"]`, errs: []string{
			`8: upstreams.app.source: server [::1]:3002 is IPv6 but no source address is`,
		}},
		{name: "IPv6 source no backend can use", servers: v4, source: `["127.0.0.2", "::1"]`, errs: []string{
			`8: upstreams.app.source[1]: source address ::1 is IPv6 but no server is`,
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Parse(testFile, []byte(doc(tc.servers, tc.source)))
			checkProblemList(t, err, tc.errs)
			if tc.errs != nil {
				return
			}
			if got := c.Upstreams["app"].Source; !reflect.DeepEqual(got, tc.want) {
				t.Errorf("source %v, want %v", got, tc.want)
			}
		})
	}
}
