package preamble

import (
	"bytes"
	"errors"
	"hash/fnv"
	"io"
	"math/rand/v2"
	"testing"
)

// FuzzParse checks Parse's invariants on arbitrary input, and that Read
// reaches the same outcome however the input is split into reads. Seeds are
// in testdata/fuzz/FuzzParse.
func FuzzParse(f *testing.F) {
	f.Fuzz(func(t *testing.T, buf []byte) {
		var h Head
		err := Parse(buf, &h)
		var rej *Reject
		switch {
		case err == nil:
			checkHead(t, buf, &h)
		case err == ErrIncomplete:
		case errors.As(err, &rej):
			if rej.Status != 400 && rej.Status != 505 {
				t.Fatalf("Parse refused with status %d: %v", rej.Status, err)
			}
		default:
			t.Fatalf("Parse returned unexpected error %v", err)
		}

		// Read in random chunkings (seeded by the input, so a failure
		// reproduces) must agree with Parse.
		hash := fnv.New64a()
		hash.Write(buf)
		rng := rand.New(rand.NewPCG(hash.Sum64(), uint64(len(buf))))
		rbuf := make([]byte, len(buf)+1)
		for range 3 {
			r := &randomChunks{data: buf, rng: rng}
			var rh Head
			n, rerr := Read(r, rbuf, &rh, ModeHTTP)
			if n < 0 || n > len(buf) || !bytes.Equal(rbuf[:n], buf[:n]) {
				t.Fatalf("Read: n = %d of %d", n, len(buf))
			}
			switch {
			case err == nil:
				if rerr != nil || n < rh.Len() {
					t.Fatalf("Parse succeeded, Read: n = %d, Len = %d, err = %v", n, rh.Len(), rerr)
				}
				if d := headDiff(&h, &rh); d != "" {
					t.Fatalf("Read head differs from Parse head: %s", d)
				}
			case err == ErrIncomplete && len(buf) == 0:
				if rerr != io.EOF {
					t.Fatalf("empty input: Read err = %v, want io.EOF", rerr)
				}
			case err == ErrIncomplete:
				if rerr != errTruncated {
					t.Fatalf("incomplete input: Read err = %v, want %v", rerr, errTruncated)
				}
			default:
				if rerr != err {
					t.Fatalf("Parse err = %v, Read err = %v", err, rerr)
				}
			}
		}
	})
}

// checkHead checks the invariants of a head that Parse accepted from buf.
func checkHead(t *testing.T, buf []byte, h *Head) {
	t.Helper()
	n := h.Len()
	if n <= 0 || n > len(buf) {
		t.Fatalf("Len = %d, len(buf) = %d", n, len(buf))
	}
	if buf[n-1] != '\n' || !bytes.Equal(h.Bytes(), buf[:n]) {
		t.Fatalf("head %q does not end in LF or is not buf[:Len]", h.Bytes())
	}
	inHead := func(s span) bool { return s.off <= s.end && int(s.end) <= n }
	if !inHead(h.method) || !inHead(h.target) || !inHead(h.proto) {
		t.Fatalf("request line spans out of the head: %+v %+v %+v", h.method, h.target, h.proto)
	}
	if !isToken(h.Method()) {
		t.Fatalf("method %q is not a token", h.Method())
	}
	if len(h.Target()) == 0 || bytes.ContainsAny(h.Target(), " \t\r\n\x00\x7f") {
		t.Fatalf("bad target %q", h.Target())
	}
	if p := string(h.Proto()); p != "HTTP/1.0" && p != "HTTP/1.1" || int(p[7]-'0') != h.ProtoMinor() {
		t.Fatalf("proto %q, minor %d", p, h.ProtoMinor())
	}
	hosts := 0
	for i := 0; i < h.NumHeaders(); i++ {
		f := h.fields[i]
		if !inHead(f.name) || !inHead(f.value) {
			t.Fatalf("field %d spans out of the head: %+v", i, f)
		}
		name, value := h.HeaderAt(i)
		if !isToken(name) {
			t.Fatalf("header name %q is not a token", name)
		}
		if len(value) > 0 && (isOWS(value[0]) || isOWS(value[len(value)-1])) {
			t.Fatalf("header value %q not trimmed", value)
		}
		for _, c := range value {
			if !lineByte[c] {
				t.Fatalf("header value %q holds a control character", value)
			}
		}
		if equalFold(name, "Host") {
			hosts++
		}
	}
	if hosts > 1 || h.ProtoMinor() == 1 && hosts == 0 {
		t.Fatalf("%d Host fields in HTTP/1.%d", hosts, h.ProtoMinor())
	}

	// The head alone parses the same; one byte less is incomplete.
	var again Head
	if err := Parse(buf[:n], &again); err != nil {
		t.Fatalf("Parse(buf[:Len]) = %v", err)
	}
	if d := headDiff(h, &again); d != "" {
		t.Fatalf("Parse(buf[:Len]) differs: %s", d)
	}
	if err := Parse(buf[:n-1], &again); err != ErrIncomplete {
		t.Fatalf("Parse(buf[:Len-1]) = %v, want ErrIncomplete", err)
	}

	// Lookups and Check must not panic and return sub-slices of the head.
	within := func(b []byte) {
		if b != nil && !bytes.Contains(buf[:n], b) {
			t.Fatalf("lookup result %q not in the head", b)
		}
	}
	within(h.Header("Host"))
	within(h.Cookie("session"))
	within(h.Query("sid"))
	h.HasToken("Connection", "upgrade")
	if err := Check(h, ModeWebSocket); err != nil {
		var rej *Reject
		if !errors.As(err, &rej) || rej.Status != 400 && rej.Status != 426 {
			t.Fatalf("Check: %v", err)
		}
	}
}

func isToken(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	for _, c := range b {
		if !tchar[c] {
			return false
		}
	}
	return true
}

// randomChunks returns data in random-sized reads, then io.EOF.
type randomChunks struct {
	data []byte
	rng  *rand.Rand
}

func (r *randomChunks) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, io.EOF
	}
	k := 1 + r.rng.IntN(min(len(p), len(r.data), 64))
	n := copy(p, r.data[:k])
	r.data = r.data[n:]
	return n, nil
}
