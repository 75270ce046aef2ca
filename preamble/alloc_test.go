package preamble

import (
	"strings"
	"testing"
)

// TestZeroAllocs checks that Parse, Check and the lookups allocate nothing
// on a realistic head.
func TestZeroAllocs(t *testing.T) {
	buf := []byte(chromeUpgrade)
	var h Head
	var sink int
	allocs := testing.AllocsPerRun(200, func() {
		if err := Parse(buf, &h); err != nil {
			t.Fatal(err)
		}
		if err := Check(&h, ModeWebSocket); err != nil {
			t.Fatal(err)
		}
		sink += len(h.Header("Sec-WebSocket-Key")) + len(h.Header("x-forwarded-for")) +
			len(h.Cookie("session")) + len(h.Cookie("missing")) +
			len(h.Query("token")) + len(h.Query("missing"))
		if h.HasToken("Connection", "upgrade") {
			sink++
		}
	})
	if allocs != 0 {
		t.Errorf("Parse+Check+lookups: %v allocations per run, want 0", allocs)
	}
	if sink == 0 {
		t.Error("lookups found nothing")
	}

	r := strings.NewReader(chromeUpgrade)
	rbuf := make([]byte, 4096)
	allocs = testing.AllocsPerRun(200, func() {
		r.Reset(chromeUpgrade)
		if _, err := Read(r, rbuf, &h, ModeWebSocket); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("Read: %v allocations per run, want 0", allocs)
	}
}

// TestIncrementalScan checks that parsing a growing buffer resumes where it
// stopped: after each ErrIncomplete, everything but a trailing CR has been
// scanned, so Read looks at every byte a bounded number of times.
func TestIncrementalScan(t *testing.T) {
	in := manyHeaders(128)
	var h Head
	h.reset()
	for k := 1; k <= len(in); k++ {
		err := h.parse([]byte(in[:k]))
		if k == len(in) {
			if err != nil {
				t.Fatal(err)
			}
			break
		}
		if err != ErrIncomplete {
			t.Fatalf("prefix %d: %v", k, err)
		}
		want := k
		if in[k-1] == '\r' {
			want = k - 1
		}
		if h.scan != want || h.line > h.scan {
			t.Fatalf("prefix %d: scan = %d, line = %d; want scan %d", k, h.scan, h.line, want)
		}
	}
	if h.NumHeaders() != 128 {
		t.Fatalf("NumHeaders = %d", h.NumHeaders())
	}
}

func BenchmarkParse(b *testing.B) {
	buf := []byte(chromeUpgrade)
	var h Head
	b.ReportAllocs()
	b.SetBytes(int64(len(buf)))
	for b.Loop() {
		if err := Parse(buf, &h); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseCheckLookup(b *testing.B) {
	buf := []byte(chromeUpgrade)
	var h Head
	b.ReportAllocs()
	b.SetBytes(int64(len(buf)))
	for b.Loop() {
		if err := Parse(buf, &h); err != nil {
			b.Fatal(err)
		}
		if err := Check(&h, ModeWebSocket); err != nil {
			b.Fatal(err)
		}
		if h.Cookie("session") == nil || h.Query("room") == nil || h.Header("Origin") == nil {
			b.Fatal("lookup failed")
		}
	}
}
