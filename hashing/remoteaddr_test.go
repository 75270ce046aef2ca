package hashing

import (
	"net/netip"
	"testing"
)

func TestAppendRemoteAddr(t *testing.T) {
	tests := []struct {
		ip     string
		onIPv6 bool
		want   string
	}{
		{"127.31.228.181", false, "127.31.228.181"},
		{"0.0.0.0", false, "0.0.0.0"},
		{"255.255.255.255", false, "255.255.255.255"},
		{"::1", true, "::1"},
		{"::", true, "::"},
		{"::ffff:1.2.3.4", true, "::ffff:1.2.3.4"}, // IPv4-mapped: 5 zero groups + ffff
		{"::1.2.3.4", true, "::1.2.3.4"},           // IPv4-compatible: 6 zero groups
		// max == 7: dotted unless byte 14 is 0 or byte 15 is 1.
		{"::ffff", true, "::0.0.255.255"},
		{"::100", true, "::0.0.1.0"},
		{"::102", true, "::0.0.1.2"},
		{"::101", true, "::101"},
		{"::2", true, "::2"},
		{"::1:1", true, "::0.1.0.1"}, // 6 zero groups
		{"fd00:6::1", true, "fd00:6::1"},
		{"fd00:6::1:0:0:1", true, "fd00:6::1:0:0:1"}, // first of two equal runs
		{"1:0:0:2:0:0:0:3", true, "1:0:0:2::3"},      // a later longer run wins
		{"2001:db8::", true, "2001:db8::"},
		{"1::", true, "1::"},
		{"2001:db8:0:1:1:1:1:1", true, "2001:db8:0:1:1:1:1:1"}, // a single zero group stays
		{"2001:0db8:85a3:0001:0002:8a2e:0370:7334", true, "2001:db8:85a3:1:2:8a2e:370:7334"},
		{"FE80:ABCD::1", true, "fe80:abcd::1"},
		{"::ffff:0:1.2.3.4", true, "::ffff:0:102:304"}, // 4 zero groups: no dotted tail
		{"::1:0:0", true, "::1:0:0"},
		{"::ffff:0.0.0.0", true, "::ffff:0.0.0.0"},
		{"fe80::1%eth0", true, "fe80::1"}, // zones are not printed
		// The listening socket decides how an IPv4 client is spelled.
		{"127.1.2.3", true, "::ffff:127.1.2.3"},
		{"::ffff:127.1.2.3", false, "127.1.2.3"},
		{"::1", false, "::1"},
	}
	for _, tt := range tests {
		ip := netip.MustParseAddr(tt.ip)
		got := AppendRemoteAddr([]byte("x"), ip, tt.onIPv6)
		if string(got) != "x"+tt.want {
			t.Errorf("AppendRemoteAddr(%s, %v) = %q, want %q", tt.ip, tt.onIPv6, got[1:], tt.want)
		}
	}
	if got := AppendRemoteAddr(nil, netip.Addr{}, false); len(got) != 0 {
		t.Errorf("zero Addr: %q, want nothing", got)
	}
}

func TestAppendRemoteAddrAllocs(t *testing.T) {
	ip := netip.MustParseAddr("2001:db8::ffff:1")
	var buf [64]byte
	if n := testing.AllocsPerRun(100, func() { AppendRemoteAddr(buf[:0], ip, true) }); n != 0 {
		t.Errorf("%v allocs, want 0", n)
	}
}
