package upstream

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"net"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tether-proxy/tether/internal/dnsmasqtest"
)

// testRR is an answer record for buildMsg.
type testRR struct {
	name string
	typ  uint16
	ttl  uint32
	data []byte
}

// wireName encodes name without compression.
func wireName(name string) []byte {
	var b []byte
	for _, l := range strings.Split(name, ".") {
		b = append(b, byte(len(l)))
		b = append(b, l...)
	}
	return append(b, 0)
}

// buildMsg builds a response (flags as given) to the question (qname, qtype) with answers.
func buildMsg(id, flags uint16, qname string, qtype uint16, answers ...testRR) []byte {
	b := binary.BigEndian.AppendUint16(nil, id)
	b = binary.BigEndian.AppendUint16(b, flags)
	b = append(b, 0, 1)
	b = binary.BigEndian.AppendUint16(b, uint16(len(answers)))
	b = append(b, 0, 0, 0, 0)
	b = append(b, wireName(qname)...)
	b = binary.BigEndian.AppendUint16(b, qtype)
	b = binary.BigEndian.AppendUint16(b, classIN)
	for _, r := range answers {
		b = append(b, wireName(r.name)...)
		b = binary.BigEndian.AppendUint16(b, r.typ)
		b = binary.BigEndian.AppendUint16(b, classIN)
		b = binary.BigEndian.AppendUint32(b, r.ttl)
		b = binary.BigEndian.AppendUint16(b, uint16(len(r.data)))
		b = append(b, r.data...)
	}
	return b
}

func a4(s string) []byte  { a := netip.MustParseAddr(s).As4(); return a[:] }
func a16(s string) []byte { a := netip.MustParseAddr(s).As16(); return a[:] }

// Responses captured from dnsmasq 2.90 (hosts: 127.0.0.11 and 127.0.0.12 app.test, ::1
// app.test; --cname=alias.test,app.test; --local-ttl=7), query ID 0x1234.
var (
	dnsmasqA     = "1234858000010002000000000361707004746573740000010001c00c000100010000000700047f00000bc00c000100010000000700047f00000c"
	dnsmasqAAAA  = "12348580000100010000000003617070047465737400001c0001c00c001c000100000007001000000000000000000000000000000001"
	dnsmasqAlias = "12348580000100030000000005616c69617304746573740000010001c00c0005000100000007000a03617070047465737400c028000100010000000700047f00000cc028000100010000000700047f00000b"
)

func TestParseResponse(t *testing.T) {
	const id = 0x1234
	const ok = 0x8180 // QR, RD, RA, NOERROR
	hexMsg := func(s string) []byte { b, _ := hex.DecodeString(s); return b }
	tests := []struct {
		name  string
		msg   []byte
		qname string
		qtype uint16
		want  []string // addresses
		ttl   uint32
		err   string // substring, or "" for success
	}{
		{"dnsmasq A, compressed", hexMsg(dnsmasqA), "app.test", typeA, []string{"127.0.0.11", "127.0.0.12"}, 7, ""},
		{"dnsmasq AAAA", hexMsg(dnsmasqAAAA), "app.test", typeAAAA, []string{"::1"}, 7, ""},
		{"dnsmasq CNAME then A", hexMsg(dnsmasqAlias), "alias.test", typeA, []string{"127.0.0.12", "127.0.0.11"}, 7, ""},
		{"question is matched case-insensitively", buildMsg(id, ok, "App.TEST", typeA, testRR{"APP.test", typeA, 5, a4("10.0.0.1")}),
			"app.test", typeA, []string{"10.0.0.1"}, 5, ""},
		{"smallest TTL wins, CNAME included", buildMsg(id, ok, "a.test", typeA,
			testRR{"a.test", typeCNAME, 3, wireName("b.test")}, testRR{"b.test", typeA, 60, a4("10.0.0.1")}, testRR{"b.test", typeA, 9, a4("10.0.0.2")}),
			"a.test", typeA, []string{"10.0.0.1", "10.0.0.2"}, 3, ""},
		{"records of other names are ignored", buildMsg(id, ok, "a.test", typeA,
			testRR{"evil.test", typeA, 5, a4("10.6.6.6")}, testRR{"a.test", typeA, 5, a4("10.0.0.1")}),
			"a.test", typeA, []string{"10.0.0.1"}, 5, ""},
		{"records of another type are ignored", buildMsg(id, ok, "a.test", typeA,
			testRR{"a.test", typeAAAA, 5, a16("::1")}, testRR{"a.test", 16, 5, []byte("\x03txt")}),
			"a.test", typeA, nil, 0, ""},
		{"TTL with the top bit set is zero", buildMsg(id, ok, "a.test", typeA, testRR{"a.test", typeA, 1 << 31, a4("10.0.0.1")}),
			"a.test", typeA, []string{"10.0.0.1"}, 0, ""},
		{"NODATA", buildMsg(id, ok, "a.test", typeAAAA), "a.test", typeAAAA, nil, 0, ""},
		{"NXDOMAIN", buildMsg(id, 0x8183, "a.test", typeA), "a.test", typeA, nil, 0, "NXDOMAIN"},
		{"SERVFAIL", buildMsg(id, 0x8182, "a.test", typeA), "a.test", typeA, nil, 0, "SERVFAIL"},
		{"REFUSED", buildMsg(id, 0x8185, "a.test", typeA), "a.test", typeA, nil, 0, "REFUSED"},
		{"truncated", buildMsg(id, 0x8380, "a.test", typeA), "a.test", typeA, nil, 0, "truncated"},
		{"other ID", buildMsg(id+1, ok, "a.test", typeA), "a.test", typeA, nil, 0, "answer ID"},
		{"a query, not a response", buildMsg(id, 0x0100, "a.test", typeA), "a.test", typeA, nil, 0, "not a response"},
		{"other question", buildMsg(id, ok, "b.test", typeA), "a.test", typeA, nil, 0, "another question"},
		{"other question type", buildMsg(id, ok, "a.test", typeAAAA), "a.test", typeA, nil, 0, "another question"},
		{"A record of 5 bytes", buildMsg(id, ok, "a.test", typeA, testRR{"a.test", typeA, 5, []byte{1, 2, 3, 4, 5}}),
			"a.test", typeA, nil, 0, "has 5 bytes"},
		{"short header", []byte{0x12, 0x34, 0x81}, "a.test", typeA, nil, 0, "too short"},
		{"record cut short", buildMsg(id, ok, "a.test", typeA, testRR{"a.test", typeA, 5, a4("10.0.0.1")})[:40],
			"a.test", typeA, nil, 0, "too short"},
		{"compression loop", append(buildMsg(id, ok, "a.test", typeA)[:6], 0, 1, 0, 0, 0, 0, 0xc0, 12),
			"a.test", typeA, nil, 0, "question: too many compression pointers"},
		{"reserved label type", append(buildMsg(id, ok, "a.test", typeA)[:6], 0, 0, 0, 0, 0, 0, 0x80),
			"a.test", typeA, nil, 0, "unknown label type"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ans, err := parseResponse(tc.msg, id, tc.qname, tc.qtype)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, a := range ans.addrs {
				got = append(got, a.String())
			}
			if !slices.Equal(got, tc.want) || ans.ttl != tc.ttl {
				t.Errorf("got %v ttl %d, want %v ttl %d", got, ans.ttl, tc.want, tc.ttl)
			}
		})
	}
}

// Responses of dnsmasq 2.90 to SRV questions (--srv-host=_http._tcp.app.test,b1.test,3001,0,10
// --srv-host=_http._tcp.app.test,b2.test,3002,1,5 --srv-host=_none._tcp.app.test, hosts
// 127.0.0.21 b1.test and 127.0.0.22 b2.test, --local-ttl=7), query ID 0x1234: two records with
// compressed targets and their addresses in the additional section; a "no service" record
// (target "."); NXDOMAIN for a name without records.
var (
	dnsmasqSRV     = "123485800001000200000002055f68747470045f7463700361707004746573740000210001c00c0021000100000007000f000100050bba026232047465737400c00c0021000100000007000f0000000a0bb9026231047465737400c052000100010000000700047f000015c037000100010000000700047f000016"
	dnsmasqSRVNone = "123485800001000100000000055f6e6f6e65045f7463700361707004746573740000210001c00c0021000100000007000700000000000100"
	dnsmasqSRVNX   = "123481830001000000000000085f6d697373696e67045f7463700361707004746573740000210001"
)

// srvData encodes SRV RDATA with an uncompressed target.
func srvData(priority, weight, port uint16, target string) []byte {
	b := binary.BigEndian.AppendUint16(nil, priority)
	b = binary.BigEndian.AppendUint16(b, weight)
	b = binary.BigEndian.AppendUint16(b, port)
	return append(b, wireName(target)...)
}

// TestParseSRVResponse pins the SRV reading of parseResponse (RFC 2782): records of the
// question's name (after CNAMEs) in answer order, targets canonical even when compressed,
// "." targets dropped, the smallest TTL, and malformed RDATA refused.
func TestParseSRVResponse(t *testing.T) {
	const id = 0x1234
	const ok = 0x8180
	hexMsg := func(s string) []byte { b, _ := hex.DecodeString(s); return b }
	tests := []struct {
		name  string
		msg   []byte
		qname string
		want  []srvRecord
		ttl   uint32
		err   string
	}{
		{"dnsmasq, compressed targets", hexMsg(dnsmasqSRV), "_http._tcp.app.test",
			[]srvRecord{{1, 5, 3002, "b2.test"}, {0, 10, 3001, "b1.test"}}, 7, ""},
		{"dnsmasq, no service", hexMsg(dnsmasqSRVNone), "_none._tcp.app.test", nil, 0, ""},
		{"dnsmasq, NXDOMAIN", hexMsg(dnsmasqSRVNX), "_missing._tcp.app.test", nil, 0, "NXDOMAIN"},
		{"target case folded, smallest TTL, CNAME followed", buildMsg(id, ok, "_x._tcp.a.test", typeSRV,
			testRR{"_x._tcp.a.test", typeCNAME, 30, wireName("_x._tcp.b.test")},
			testRR{"_x._tcp.b.test", typeSRV, 9, srvData(0, 0, 80, "Host.B.test")},
			testRR{"_x._tcp.other.test", typeSRV, 1, srvData(0, 0, 81, "evil.test")}),
			"_x._tcp.a.test", []srvRecord{{0, 0, 80, "host.b.test"}}, 9, ""},
		{"RDATA too short", buildMsg(id, ok, "_x._tcp.a.test", typeSRV, testRR{"_x._tcp.a.test", typeSRV, 5, []byte{0, 0, 0, 0, 0, 80}}),
			"_x._tcp.a.test", nil, 0, "want at least 7"},
		{"target runs past RDATA", buildMsg(id, ok, "_x._tcp.a.test", typeSRV, testRR{"_x._tcp.a.test", typeSRV, 5, srvData(0, 0, 80, "b.test")[:9]}),
			"_x._tcp.a.test", nil, 0, "malformed target"},
		{"bytes after the target", buildMsg(id, ok, "_x._tcp.a.test", typeSRV, testRR{"_x._tcp.a.test", typeSRV, 5, append(srvData(0, 0, 80, "b.test"), 0)}),
			"_x._tcp.a.test", nil, 0, "malformed target"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ans, err := parseResponse(tc.msg, id, tc.qname, typeSRV)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(ans.srvs, tc.want) || ans.ttl != tc.ttl || len(ans.addrs) != 0 {
				t.Errorf("got %+v ttl %d, want %+v ttl %d", ans.srvs, ans.ttl, tc.want, tc.ttl)
			}
		})
	}
}

// FuzzParseSRVResponse feeds arbitrary messages to the parser as answers to an SRV question,
// with the message's own ID: it must not panic, and every record it returns must have a
// non-empty canonical target no longer than a DNS name can be.
func FuzzParseSRVResponse(f *testing.F) {
	f.Fuzz(func(t *testing.T, msg []byte) {
		if len(msg) > 1<<16 {
			return
		}
		var id uint16
		if len(msg) >= 2 {
			id = binary.BigEndian.Uint16(msg)
		}
		ans, err := parseResponse(msg, id, "_http._tcp.app.test", typeSRV)
		if err != nil {
			return
		}
		if len(ans.addrs) != 0 || len(ans.srvs) == 0 && ans.ttl != 0 || ans.ttl > 1<<31-1 || len(ans.srvs) > len(msg)/7 {
			t.Fatalf("answer %+v from %d bytes", ans, len(msg))
		}
		for _, r := range ans.srvs {
			if r.target == "" || len(r.target) > 2*255 || strings.ToLower(r.target) != r.target {
				t.Fatalf("target %q", r.target)
			}
		}
	})
}

func TestAppendQuery(t *testing.T) {
	// RFC 1035 section 4.1: ID, RD set, one question "app.test" type A class IN.
	got := hex.EncodeToString(appendQuery(nil, 0x1234, "app.test", typeA))
	if want := "123401000001000000000000" + "036170700474657374" + "00" + "0001" + "0001"; got != want {
		t.Errorf("query %s, want %s", got, want)
	}
	for _, bad := range []string{"", ".", "a..b", strings.Repeat("a", 64) + ".test", strings.Repeat("a.", 127) + "bb"} {
		if _, err := canonicalName(bad); err == nil {
			t.Errorf("canonicalName(%q) accepted", bad)
		}
	}
	if n, _ := canonicalName("App.Test."); n != "app.test" {
		t.Errorf("canonicalName = %q", n)
	}
}

// FuzzParseResponse feeds arbitrary messages to the parser, answering with the message's own
// ID so that parsing goes past the header: it must not panic, and what it accepts must be
// well-formed.
func FuzzParseResponse(f *testing.F) {
	f.Fuzz(func(t *testing.T, msg []byte, aaaa bool) {
		if len(msg) > 1<<16 {
			return
		}
		var id uint16
		if len(msg) >= 2 {
			id = binary.BigEndian.Uint16(msg)
		}
		qtype := uint16(typeA)
		if aaaa {
			qtype = typeAAAA
		}
		ans, err := parseResponse(msg, id, "app.test", qtype)
		ans2, err2 := parseResponse(msg, id, "app.test", qtype)
		if (err == nil) != (err2 == nil) || !slices.Equal(ans.addrs, ans2.addrs) || ans.ttl != ans2.ttl {
			t.Fatal("parseResponse is not deterministic")
		}
		if err != nil {
			return
		}
		if ans.ttl > 1<<31-1 || len(ans.addrs) == 0 && ans.ttl != 0 || len(ans.addrs) > len(msg)/4 {
			t.Fatalf("answer %+v from %d bytes", ans, len(msg))
		}
		for _, a := range ans.addrs {
			if a.Is4() == aaaa {
				t.Fatalf("address %v for query type %d", a, qtype)
			}
		}
	})
}

// TestDNSClient asks a real dnsmasq.
func TestDNSClient(t *testing.T) {
	many := make([]string, 40) // 40 A records do not fit in 512 bytes: the UDP answer is truncated
	for i := range many {
		many[i] = netip.AddrFrom4([4]byte{127, 0, 1, byte(i + 1)}).String()
	}
	srv := dnsmasqtest.Start(t, dnsmasqtest.Options{TTL: 7, CNAMEs: map[string]string{"alias.test": "app.test"}}, map[string][]string{
		"app.test":  {"127.0.0.11", "127.0.0.12", "::1"},
		"v6.test":   {"::2"},
		"many.test": many,
	})
	closed := closedUDPPort(t)
	tests := []struct {
		name    string
		servers []netip.AddrPort
		host    string
		want    []string // sorted within each family, IPv4 first
		err     string
	}{
		{"A and AAAA", []netip.AddrPort{srv.Addr}, "app.test", []string{"127.0.0.11", "127.0.0.12", "::1"}, ""},
		{"final dot and case", []netip.AddrPort{srv.Addr}, "APP.test.", []string{"127.0.0.11", "127.0.0.12", "::1"}, ""},
		{"IPv6 only", []netip.AddrPort{srv.Addr}, "v6.test", []string{"::2"}, ""},
		{"CNAME", []netip.AddrPort{srv.Addr}, "alias.test", []string{"127.0.0.11", "127.0.0.12", "::1"}, ""},
		{"truncated over UDP, complete over TCP", []netip.AddrPort{srv.Addr}, "many.test", many, ""},
		{"NXDOMAIN", []netip.AddrPort{srv.Addr}, "nope.test", nil, "NXDOMAIN"},
		{"first server down, second answers", []netip.AddrPort{closed, srv.Addr}, "app.test", []string{"127.0.0.11", "127.0.0.12", "::1"}, ""},
		{"every server down", []netip.AddrPort{closed}, "app.test", nil, "refused"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := &dnsClient{servers: tc.servers, timeout: 5 * time.Second}
			addrs, ttl, err := c.lookup(context.Background(), tc.host)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, a := range addrs {
				got = append(got, a.String())
			}
			slices.SortStableFunc(got, func(a, b string) int {
				a4, b4 := !strings.Contains(a, ":"), !strings.Contains(b, ":")
				switch {
				case a4 && !b4:
					return -1
				case b4 && !a4:
					return 1
				}
				return netip.MustParseAddr(a).Compare(netip.MustParseAddr(b))
			})
			if !slices.Equal(got, tc.want) || ttl != 7*time.Second {
				t.Errorf("got %v ttl %v, want %v ttl 7s", got, ttl, tc.want)
			}
		})
	}
	// The many.test case above went over TCP: its UDP answer is truncated.
	c := &dnsClient{servers: []netip.AddrPort{srv.Addr}, timeout: 5 * time.Second}
	q := appendQuery(nil, 7, "many.test", typeA)
	resp, err := c.exchange(context.Background(), "udp", srv.Addr, q, 7)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := parseResponse(resp, 7, "many.test", typeA); !errors.Is(err, errTruncated) {
		t.Errorf("UDP answer for 40 addresses: %v, want errTruncated", err)
	}
}

// closedUDPPort returns a loopback UDP address nobody listens on: queries to it are refused.
func closedUDPPort(t *testing.T) netip.AddrPort {
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	a := c.LocalAddr().(*net.UDPAddr).AddrPort()
	c.Close()
	return a
}

func TestDNSClientCancel(t *testing.T) {
	// A server that never answers: the lookup ends when ctx does.
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	c := &dnsClient{servers: []netip.AddrPort{pc.LocalAddr().(*net.UDPAddr).AddrPort()}, timeout: time.Minute}
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		buf := make([]byte, 512)
		pc.ReadFrom(buf) // the query arrived
		cancel()
	}()
	_, _, err = c.lookup(ctx, "app.test")
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err %v, want context.Canceled", err)
	}
}
