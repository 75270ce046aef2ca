package hashing

import (
	"fmt"
	"net/netip"
	"testing"
)

func benchKeys() [][]byte {
	keys := make([][]byte, 1024)
	for i := range keys {
		keys[i] = []byte(key(i * 7919))
	}
	return keys
}

func benchLookup(b *testing.B, mode Mode) {
	var peers []Peer
	for i := range 10 {
		peers = append(peers, p(fmt.Sprintf("10.0.0.%d:8080", i+1), 1+i%3))
	}
	tab := mustNew(b, mode, peers...)
	h := &staticHealth{allUsable(len(peers))}
	keys := benchKeys()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		var a Attempt
		tab.Start(&a, keys[i&1023])
		if tab.Next(&a, h) < 0 {
			b.Fatal("no peer")
		}
	}
}

// BenchmarkConsistentLookup is Start+Next for `hash $remote_addr consistent;`, 10 peers.
func BenchmarkConsistentLookup(b *testing.B) { benchLookup(b, Consistent) }

// BenchmarkPlainLookup is Start+Next for `hash $remote_addr;`, 10 peers.
func BenchmarkPlainLookup(b *testing.B) { benchLookup(b, Plain) }

func BenchmarkAppendRemoteAddr(b *testing.B) {
	ips := []netip.Addr{
		netip.MustParseAddr("127.31.228.181"),
		netip.MustParseAddr("2001:db8:85a3::8a2e:370:7334"),
		netip.MustParseAddr("::ffff:203.0.113.9"),
	}
	var buf [64]byte
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		ip := ips[i%len(ips)]
		if len(AppendRemoteAddr(buf[:0], ip, ip.Is4In6())) == 0 {
			b.Fatal("empty")
		}
	}
}
