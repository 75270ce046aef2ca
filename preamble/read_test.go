package preamble

import (
	"errors"
	"io"
	"net"
	"os"
	"strings"
	"testing"
	"testing/iotest"
	"time"
)

// chunkReader returns data in chunks of the given sizes, cycling through
// them, then io.EOF. With eofWithData the last chunk comes with io.EOF.
type chunkReader struct {
	data        string
	sizes       []int
	i           int
	eofWithData bool
}

func (r *chunkReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, io.EOF
	}
	k := min(r.sizes[r.i%len(r.sizes)], len(p), len(r.data))
	r.i++
	n := copy(p, r.data[:k])
	r.data = r.data[n:]
	if r.eofWithData && len(r.data) == 0 {
		return n, io.EOF
	}
	return n, nil
}

// readers returns the ways TestReadChunkings feeds in to Read.
func readers(in string) map[string]io.Reader {
	return map[string]io.Reader{
		"whole":           strings.NewReader(in),
		"1 byte":          iotest.OneByteReader(strings.NewReader(in)),
		"half":            iotest.HalfReader(strings.NewReader(in)),
		"odd chunks":      &chunkReader{data: in, sizes: []int{3, 1, 7, 2, 13, 5}},
		"odd chunks+EOF":  &chunkReader{data: in, sizes: []int{2, 9, 4}, eofWithData: true},
		"whole with EOF":  &chunkReader{data: in, sizes: []int{1 << 20}, eofWithData: true},
		"timeout at end":  iotest.TimeoutReader(&chunkReader{data: in, sizes: []int{1 << 20}}),
		"1 byte, DataErr": iotest.DataErrReader(iotest.OneByteReader(strings.NewReader(in))),
	}
}

// TestReadChunkings runs every Parse+Check case through Read with different
// chunkings: the outcome must not depend on how the bytes arrive.
func TestReadChunkings(t *testing.T) {
	buf := make([]byte, 64<<10)
	for _, tc := range parseCases {
		var want Head
		wantErr := Parse([]byte(tc.in), &want)
		for rname, r := range readers(tc.in) {
			t.Run(tc.name+"/"+rname, func(t *testing.T) {
				var h Head
				n, err := Read(r, buf, &h, tc.mode1())
				if n < 0 || n > len(tc.in) || string(buf[:n]) != tc.in[:n] {
					t.Fatalf("n = %d, buf[:n] = %q", n, buf[:max(0, min(n, len(buf)))])
				}
				switch {
				case tc.status != incomplete:
					tc.verify(t, &h, err)
				case rname == "timeout at end":
					// TimeoutReader's second read fails with iotest.ErrTimeout,
					// which has no Timeout method: a plain read error.
					if len(tc.in) > 0 && !errors.Is(err, iotest.ErrTimeout) {
						t.Fatalf("err = %v, want wrapped iotest.ErrTimeout", err)
					}
					return
				case len(tc.in) == 0:
					if err != io.EOF {
						t.Fatalf("err = %v, want io.EOF", err)
					}
					return
				default:
					var rej *Reject
					if !errors.As(err, &rej) || rej.Status != 400 || !strings.Contains(rej.Reason, "closed") {
						t.Fatalf("err = %v, want 400 for EOF mid-head", err)
					}
					return
				}
				if wantErr != nil {
					return
				}
				if n < h.Len() {
					t.Errorf("n = %d < Len %d", n, h.Len())
				}
				if strings.HasPrefix(rname, "1 byte") && n != h.Len() {
					t.Errorf("1-byte reads: n = %d, want exactly Len %d", n, h.Len())
				}
				if rname == "whole" && n != len(tc.in) {
					t.Errorf("single read: n = %d, want %d", n, len(tc.in))
				}
				if diff := headDiff(&want, &h); diff != "" {
					t.Errorf("Read head differs from Parse head: %s", diff)
				}
			})
		}
	}
}

// headDiff describes how a and b differ, or returns "".
func headDiff(a, b *Head) string {
	switch {
	case string(a.Method()) != string(b.Method()):
		return "method"
	case string(a.Target()) != string(b.Target()):
		return "target"
	case string(a.Proto()) != string(b.Proto()) || a.ProtoMinor() != b.ProtoMinor():
		return "proto"
	case a.Len() != b.Len():
		return "len"
	case a.NumHeaders() != b.NumHeaders():
		return "number of headers"
	}
	for i := 0; i < a.NumHeaders(); i++ {
		an, av := a.HeaderAt(i)
		bn, bv := b.HeaderAt(i)
		if string(an) != string(bn) || string(av) != string(bv) {
			return "header " + string(an)
		}
	}
	return ""
}

func TestReadSizes(t *testing.T) {
	in := chromeUpgrade + "\x81\x80\x00\x00\x00\x00" // head + an early frame
	for _, tc := range []struct {
		name   string
		size   int
		wantN  int
		status int
	}{
		{"ample buffer, trailing bytes counted", 4096, len(in), 0},
		{"buffer ends with the head", len(chromeUpgrade), len(chromeUpgrade), 0},
		{"buffer one byte short", len(chromeUpgrade) - 1, len(chromeUpgrade) - 1, 400},
		{"tiny buffer", 16, 16, 400},
		{"no buffer", 0, 0, 400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var h Head
			n, err := Read(strings.NewReader(in), make([]byte, tc.size), &h, ModeWebSocket)
			if n != tc.wantN {
				t.Errorf("n = %d, want %d", n, tc.wantN)
			}
			if tc.status == 0 {
				if err != nil || h.Len() != len(chromeUpgrade) {
					t.Fatalf("err = %v, Len = %d", err, h.Len())
				}
				return
			}
			var rej *Reject
			if !errors.As(err, &rej) || rej.Status != tc.status || rej.Reason != "request head too large" {
				t.Fatalf("err = %v, want 400 request head too large", err)
			}
		})
	}
}

// errReader returns its data and then err.
type errReader struct {
	data string
	err  error
}

func (r *errReader) Read(p []byte) (int, error) {
	if r.data == "" {
		return 0, r.err
	}
	n := copy(p, r.data)
	r.data = r.data[n:]
	return n, nil
}

// timeoutErr is an error with a true Timeout method, like net.OpError.
type timeoutErr struct{}

func (timeoutErr) Error() string { return "i/o timeout" }
func (timeoutErr) Timeout() bool { return true }

// zeroReader returns (0, nil) forever.
type zeroReader struct{}

func (zeroReader) Read([]byte) (int, error) { return 0, nil }

func TestReadErrors(t *testing.T) {
	boom := errors.New("connection reset by peer")
	for _, tc := range []struct {
		name   string
		r      io.Reader
		status int   // *Reject with this status
		is     error // else errors.Is(err, is)
	}{
		{name: "EOF before any byte", r: strings.NewReader(""), is: io.EOF},
		{name: "EOF mid-head", r: strings.NewReader("GET / HTTP/1.1\r\nHost: a\r\n"), status: 400},
		{name: "unexpected EOF mid-head", r: &errReader{"GET /", io.ErrUnexpectedEOF}, status: 400},
		{name: "timeout error before any byte", r: &errReader{"", timeoutErr{}}, status: 408},
		{name: "timeout error mid-head", r: &errReader{"GET / HT", timeoutErr{}}, status: 408},
		{name: "other error", r: &errReader{"GET", boom}, is: boom},
		{name: "no progress", r: zeroReader{}, is: io.ErrNoProgress},
		{name: "check refusal", r: strings.NewReader(socketioPoll), status: 426},
		{name: "malformed before EOF", r: strings.NewReader("GET / HTTP/1.1\r\nHost : a\r\n"), status: 400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var h Head
			_, err := Read(tc.r, make([]byte, 1024), &h, ModeWebSocket)
			if tc.status != 0 {
				var rej *Reject
				if !errors.As(err, &rej) || rej.Status != tc.status {
					t.Fatalf("err = %v, want *Reject %d", err, tc.status)
				}
				return
			}
			if !errors.Is(err, tc.is) {
				t.Fatalf("err = %v, want %v", err, tc.is)
			}
			if tc.is == io.EOF && err != io.EOF {
				t.Fatalf("err = %#v, want io.EOF unwrapped", err)
			}
		})
	}
}

// TestReadDeadline reads from real connections whose read deadline expires
// mid-head: the result must be a 408. Only the outcome is checked, not how
// long it took.
func TestReadDeadline(t *testing.T) {
	pipe := func(t *testing.T) (client, server net.Conn) {
		c, s := net.Pipe()
		return c, s
	}
	tcp := func(t *testing.T) (client, server net.Conn) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		s, err := ln.Accept()
		if err != nil {
			c.Close()
			t.Fatal(err)
		}
		return c, s
	}
	for name, mk := range map[string]func(*testing.T) (net.Conn, net.Conn){"net.Pipe": pipe, "loopback TCP": tcp} {
		t.Run(name, func(t *testing.T) {
			client, server := mk(t)
			defer client.Close()
			defer server.Close()
			const partial = "GET / HTTP/1.1\r\nHost: a\r\n"
			written := make(chan error, 1)
			go func() {
				_, err := client.Write([]byte(partial))
				// net.Pipe's Write returns once Read has taken the bytes, so
				// the deadline expires while Read waits for the rest.
				if err == nil {
					err = server.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
				}
				written <- err
			}()
			var h Head
			buf := make([]byte, 4096)
			n, err := Read(server, buf, &h, ModeHTTP)
			var rej *Reject
			if !errors.As(err, &rej) || rej.Status != 408 {
				t.Fatalf("err = %v, want *Reject 408", err)
			}
			if err := <-written; err != nil {
				t.Fatal(err)
			}
			if n > len(partial) || string(buf[:n]) != partial[:n] || name == "net.Pipe" && n != len(partial) {
				t.Errorf("n = %d, buf[:n] = %q", n, buf[:n])
			}
		})
	}
}

// TestStep: a head that arrives in pieces, read without blocking, is complete exactly when the
// last piece arrives; the outcomes of a read map onto Read's errors.
func TestStep(t *testing.T) {
	head := "GET /chat HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
	tests := []struct {
		name   string
		pieces []string
		rerr   error // the last read's error
		size   int   // the buffer's size; 0: 4096
		want   error // nil: complete; errIncomplete: not done
	}{
		{"whole", []string{head}, nil, 0, nil},
		{"three pieces", []string{head[:5], head[5:40], head[40:]}, nil, 0, nil},
		{"not yet", []string{head[:30]}, nil, 0, errIncomplete},
		{"closed before a byte", []string{""}, io.EOF, 0, io.EOF},
		{"closed midway", []string{head[:30]}, io.EOF, 0, errTruncated},
		{"timed out", []string{head[:30]}, os.ErrDeadlineExceeded, 0, errTimeout},
		{"buffer full", []string{head[:64]}, nil, 64, errTooLarge},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			size := tc.size
			if size == 0 {
				size = 4096
			}
			buf := make([]byte, size)
			var h Head
			h.Reset()
			n := 0
			var done bool
			var err error
			for i, p := range tc.pieces {
				n += copy(buf[n:], p)
				var rerr error
				if i == len(tc.pieces)-1 {
					rerr = tc.rerr
				}
				if done, err = Step(buf, n, len(p), rerr, &h, ModeWebSocket); done && i < len(tc.pieces)-1 {
					t.Fatalf("done after piece %d of %d: %v", i+1, len(tc.pieces), err)
				}
			}
			switch {
			case tc.want == errIncomplete && done:
				t.Fatalf("done (%v), want more to read", err)
			case tc.want != errIncomplete && (!done || err != tc.want):
				t.Fatalf("Step = %v, %v; want done, %v", done, err, tc.want)
			}
		})
	}
}

var errIncomplete = errors.New("not done")
