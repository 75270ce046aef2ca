package proxyproto

import (
	"bufio"
	"bytes"
	"net"
	"testing"

	pires "github.com/pires/go-proxyproto"

	"github.com/tether-proxy/tether/conf"
)

// fuzzAddr builds one of the address kinds AppendHeader may be given: raw is the IP (any length)
// or the AF_UNIX name.
func fuzzAddr(kind byte, raw []byte, port int) net.Addr {
	switch kind % 7 {
	case 0:
		return &net.TCPAddr{IP: net.IP(raw), Port: port}
	case 1:
		return &net.UDPAddr{IP: net.IP(raw), Port: port}
	case 2:
		return &net.UnixAddr{Net: "unix", Name: string(raw)}
	case 3:
		return &net.UnixAddr{Net: "unixgram", Name: string(raw)}
	case 4:
		return &net.UnixAddr{Net: "unixpacket", Name: string(raw)}
	case 5:
		return &net.IPAddr{IP: net.IP(raw)}
	}
	return nil
}

// FuzzAppendHeader: for any addresses and TLS info, the hand-written encoder gives
// exactly go-proxyproto's bytes (or fails where it fails), and the header reads back.
// kind%7 picks the source address type and kind/7%7 the destination's; flags&1 sends
// TLS info and flags&2 marks the client verified.
func FuzzAppendHeader(f *testing.F) {
	v4a, v4b := []byte(net.IPv4(192, 0, 2, 1)), []byte(net.IPv4(192, 0, 2, 2).To4())
	v6 := []byte(net.ParseIP("2001:db8::1"))
	f.Add(byte(1), byte(0), v4a, v4b, 50000, 443, "", uint16(0), byte(0))
	f.Add(byte(2), byte(0), v4a, v6, 1, 65535, "chat.example.com", uint16(0x0304), byte(3))
	f.Add(byte(2), byte(1+7), v6, v6, 53, 53, "", uint16(0x0303), byte(1))
	f.Add(byte(2), byte(2+2*7), []byte("/run/a.sock"), []byte{}, 0, 0, "a", uint16(0x0301), byte(1))
	f.Add(byte(1), byte(0), []byte{1, 2, 3}, v4b, -1, 70000, "", uint16(0), byte(0))
	f.Fuzz(func(t *testing.T, version, kind byte, srcIP, dstIP []byte, sport, dport int, sni string, tlsVersion uint16, flags byte) {
		v := []conf.ProxyProtocol{conf.ProxyOff, conf.ProxyV1, conf.ProxyV2, "v3"}[version%4]
		src, dst := fuzzAddr(kind, srcIP, sport), fuzzAddr(kind/7, dstIP, dport)
		var info *TLSInfo
		if flags&1 != 0 {
			info = &TLSInfo{ServerName: sni, Version: tlsVersion, ClientVerified: flags&2 != 0}
		}
		b := checkAgainstRef(t, v, src, dst, info)
		if len(b) == 0 || len(b)-16 > int(pires.MaxV2HeaderSize) {
			return
		}
		h, err := pires.Read(bufio.NewReaderSize(bytes.NewReader(b), len(b)))
		if err != nil {
			t.Fatalf("go-proxyproto cannot read %s: %v", short(b), err)
		}
		if again, err := h.Format(); err != nil || !bytes.Equal(again, b) && !hasNUL(src, dst) {
			t.Fatalf("read back and formatted again: %s, %v; was %s", short(again), err, short(b))
		}
	})
}

// hasNUL: an AF_UNIX name with a NUL reads back cut at the NUL, so it cannot round-trip.
func hasNUL(addrs ...net.Addr) bool {
	for _, a := range addrs {
		if u, ok := a.(*net.UnixAddr); ok && bytes.IndexByte([]byte(u.Name), 0) >= 0 {
			return true
		}
	}
	return false
}
