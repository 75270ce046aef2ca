package proxyproto

import (
	"errors"
	"testing"
)

// FuzzFrame: Frame never panics; a framed header is within the input and frames the same
// without its trailing bytes; every prefix of a header asks for more bytes or fails the same
// way; a framed header either parses or is rejected without a panic.
func FuzzFrame(f *testing.F) {
	f.Add([]byte("PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\r\nGET /"))
	f.Add([]byte("PROXY UNKNOWN\r\n"))
	f.Add([]byte("\r\n\r\n\x00\r\nQUIT\n\x21\x11\x00\x0c\xc0\x00\x02\x01\xc6\x33\x64\x02\xdc\x04\x01\xbb"))
	f.Add([]byte("\x16\x03\x01\x02\x00"))
	f.Fuzz(func(t *testing.T, b []byte) {
		n, err := Frame(b)
		if err != nil {
			if n != 0 {
				t.Fatalf("Frame = %d with error %v", n, err)
			}
			return
		}
		if n < 0 || n > len(b) {
			t.Fatalf("Frame = %d for %d bytes", n, len(b))
		}
		if n == 0 {
			return
		}
		if m, err := Frame(b[:n]); m != n || err != nil {
			t.Fatalf("Frame of the header alone = %d, %v; want %d", m, err, n)
		}
		for i := range n {
			if m, err := Frame(b[:i]); m != 0 || (err != nil && errors.Is(err, ErrNoHeader)) {
				t.Fatalf("prefix %d of a %d-byte header: %d, %v", i, n, m, err)
			}
		}
		Parse(b[:n])
	})
}
