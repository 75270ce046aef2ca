package hashing

import (
	"bytes"
	"hash/crc32"
	"net/netip"
	"strings"
	"testing"
)

// FuzzAppendRemoteAddr checks that nginx's spelling of any address parses back to the same
// address, is never empty, uses lowercase hex without leading zeros, and matches Go's
// formatting wherever ngx_inet6_ntop has no dotted tail.
func FuzzAppendRemoteAddr(f *testing.F) {
	// Seeds: testdata/fuzz/FuzzAppendRemoteAddr.
	f.Fuzz(func(t *testing.T, raw []byte, onIPv6Socket bool) {
		var ip netip.Addr
		switch len(raw) {
		case 4:
			ip = netip.AddrFrom4([4]byte(raw))
		case 16:
			ip = netip.AddrFrom16([16]byte(raw))
		default:
			return
		}
		out := AppendRemoteAddr([]byte("prefix"), ip, onIPv6Socket)
		if !bytes.HasPrefix(out, []byte("prefix")) {
			t.Fatalf("%v: dst prefix lost: %q", ip, out)
		}
		text := string(out[len("prefix"):])
		if text == "" {
			t.Fatalf("%v: empty output", ip)
		}
		back, err := netip.ParseAddr(text)
		if err != nil {
			t.Fatalf("%v: output %q does not parse: %v", ip, text, err)
		}
		want := ip
		switch {
		case ip.Is4() && onIPv6Socket:
			want = netip.AddrFrom16(ip.As16())
		case ip.Is4In6() && !onIPv6Socket:
			want = ip.Unmap()
		}
		if back != want {
			t.Fatalf("%v (onIPv6Socket %v): output %q parses as %v", ip, onIPv6Socket, text, back)
		}
		if want.Is4() {
			if text != want.String() {
				t.Fatalf("%v: IPv4 output %q", ip, text)
			}
			return
		}
		if strings.ContainsAny(text, "ABCDEF") || strings.Contains(text, ":::") {
			t.Fatalf("%v: malformed output %q", ip, text)
		}
		for _, g := range strings.Split(text, ":") {
			if len(g) > 1 && g[0] == '0' && !strings.Contains(g, ".") {
				t.Fatalf("%v: group %q with a leading zero in %q", ip, g, text)
			}
		}
		if !strings.Contains(text, ".") && text != want.String() {
			// Without a dotted tail nginx and RFC 5952 agree (longest run, first on a tie).
			t.Fatalf("%v: %q, Go prints %q", ip, text, want.String())
		}
	})
}

// FuzzTable builds a table from fuzz bytes (peers, weights, backups, health) and checks that
// Next never returns an out-of-range, tried, down or full peer, returns a failed peer only for
// a single peer, terminates within len(peers) picks, and agrees with the literal nginx model.
func FuzzTable(f *testing.F) {
	// Seeds: testdata/fuzz/FuzzTable. spec[1:] is one peer per byte: name index in the low
	// nibble, weight-1 in bits 4-5, backup in bit 6; health[i] % 5 is peer i's State.
	f.Fuzz(func(t *testing.T, spec, key []byte, consistent bool, health []byte) {
		if len(spec) == 0 || len(spec) > 17 {
			return
		}
		names := []string{"127.0.0.1:3001", "127.0.0.1:3002", "localhost:3003", "10.0.0.4:80",
			"unix:/run/b.sock", "[::1]:9000", "name", "127.0.8.123:9601", "127.0.8.189:9601",
			"a:1", "b:1", "c:1", "d:1", "e:1", "f:1", "g:1"}
		var peers []Peer
		for _, b := range spec[1:] {
			peers = append(peers, Peer{Name: names[b&0x0f], Weight: 1 + int(b>>4&0x3), Backup: b&0x40 != 0})
		}
		if len(peers) == 0 {
			return
		}
		mode := Plain
		if consistent {
			mode = Consistent
		}
		tab, err := New(mode, peers)
		hasPrimary := false
		for _, p := range peers {
			hasPrimary = hasPrimary || !p.Backup
		}
		if (err == nil) != hasPrimary {
			t.Fatalf("New(%v) error %v", peers, err)
		}
		if err != nil {
			return
		}
		h := make(states, len(peers))
		for i := range h {
			if i < len(health) {
				h[i] = State(health[i] % 5)
			}
		}
		m := newNgxModel(mode, peers)
		var a Attempt
		tab.Start(&a, key)
		ma := m.start(key)
		single := tab.single
		picked := make([]bool, len(peers))
		for n := 0; ; n++ {
			i := tab.Next(&a, h)
			if want := m.next(ma, h); i != want {
				t.Fatalf("pick %d: Next = %d, nginx model %d", n, i, want)
			}
			if i < 0 {
				break
			}
			if n >= len(peers) {
				t.Fatalf("more than %d picks", len(peers))
			}
			if i >= len(peers) {
				t.Fatalf("peer %d out of range", i)
			}
			switch h[i] {
			case Usable:
			case Failed:
				if !single {
					t.Fatalf("failed peer %d returned", i)
				}
			default:
				t.Fatalf("peer %d in state %v returned", i, h[i])
			}
			if !a.tried(i) || picked[i] {
				t.Fatalf("peer %d returned twice or not marked tried", i)
			}
			picked[i] = true
			if peers[i].Backup && usablePrimary(peers, h, picked) {
				t.Fatalf("backup %d returned while a primary is usable", i)
			}
		}
		if got := tab.Next(&a, h); got != -1 {
			t.Fatalf("Next after -1 = %d", got)
		}
		if c := crcUpdate(crcUpdate(0, key[:len(key)/2]), key[len(key)/2:]); c != crc32.ChecksumIEEE(key) {
			t.Fatalf("crcUpdate(%q) = %#x, crc32 %#x", key, c, crc32.ChecksumIEEE(key))
		}
	})
}

// usablePrimary reports whether some primary peer not picked yet is Usable.
func usablePrimary(peers []Peer, h states, picked []bool) bool {
	for i, p := range peers {
		if !p.Backup && h[i] == Usable && !picked[i] {
			return true
		}
	}
	return false
}
