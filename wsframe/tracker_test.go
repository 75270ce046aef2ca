package wsframe

import (
	"bytes"
	"encoding/binary"
	"testing"
)

// frame builds one frame: masked frames get a fixed key (the tracker never
// looks at the payload).
func frame(fin bool, op byte, masked bool, payload int) []byte {
	b0 := op
	if fin {
		b0 |= bitFIN
	}
	var b1 byte
	if masked {
		b1 = bitMASK
	}
	var out []byte
	switch {
	case payload < len16:
		out = []byte{b0, b1 | byte(payload)}
	case payload <= 0xFFFF:
		out = binary.BigEndian.AppendUint16([]byte{b0, b1 | len16}, uint16(payload))
	default:
		out = binary.BigEndian.AppendUint64([]byte{b0, b1 | len64}, uint64(payload))
	}
	if masked {
		out = append(out, 1, 2, 3, 4)
	}
	return append(out, bytes.Repeat([]byte{'x'}, payload)...)
}

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

const okHead = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"

// TestTracker pins what the tracker says after whole streams, fed in one
// piece and byte by byte: the state, whether it stands between messages,
// whether a close frame passed, and why it gave up.
func TestTracker(t *testing.T) {
	tests := []struct {
		name     string
		role     Role
		in       []byte
		state    State
		boundary bool
		closed   bool
		err      string
	}{
		// Server streams start with the response head.
		{"101 then a text frame", FromServer, cat([]byte(okHead), frame(true, opText, false, 5)), Frames, true, false, ""},
		{"101 without reason", FromServer, []byte("HTTP/1.0 101\r\n\r\n"), Frames, true, false, ""},
		{"head not finished", FromServer, []byte("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"), Head, false, false, ""},
		{"200 is not an upgrade", FromServer, []byte("HTTP/1.1 200 OK\r\n\r\n"), Off, false, false, ""},
		{"1010 is not 101", FromServer, []byte("HTTP/1.1 1010 X\r\n\r\n"), Off, false, false, ""},
		{"HTTP/2 is not HTTP/1.x", FromServer, []byte("HTTP/2 101\r\n\r\n"), Off, false, false, ""},
		{"head with bare LF never ends", FromServer, []byte("HTTP/1.1 101 X\n\n\x81\x00"), Head, false, false, ""},

		// Message boundaries.
		{"mid payload", FromServer, cat([]byte(okHead), frame(true, opBinary, false, 300)[:100]), Frames, false, false, ""},
		{"mid header", FromServer, cat([]byte(okHead), frame(true, opBinary, false, 70000)[:5]), Frames, false, false, ""},
		{"64-bit length", FromServer, cat([]byte(okHead), frame(true, opBinary, false, 70000)), Frames, true, false, ""},
		{"fragmented, open", FromClient, cat(frame(false, opText, true, 3), frame(false, opContinuation, true, 3)), Frames, false, false, ""},
		{"fragmented, done", FromClient, cat(frame(false, opText, true, 3), frame(true, opContinuation, true, 3)), Frames, true, false, ""},
		{"ping inside a fragmented message", FromClient, cat(frame(false, opText, true, 3), frame(true, opPing, true, 4)), Frames, false, false, ""},
		{"ping then the last fragment", FromClient, cat(frame(false, opBinary, true, 3), frame(true, opPong, true, 0), frame(true, opContinuation, true, 1)), Frames, true, false, ""},
		{"close", FromServer, cat([]byte(okHead), frame(true, opClose, false, 2)), Frames, true, true, ""},
		{"close not finished", FromClient, frame(true, opClose, true, 2)[:7], Frames, false, false, ""},
		{"reserved bits are an extension's", FromClient, []byte{0xC1, 0x80, 1, 2, 3, 4}, Frames, true, false, ""},

		// Framing a receiver refuses.
		{"reserved opcode", FromClient, frame(true, 0x3, true, 1), Bad, false, false, "reserved opcode"},
		{"reserved control opcode", FromClient, frame(true, 0xB, true, 1), Bad, false, false, "reserved opcode"},
		{"2^63 length", FromServer, cat([]byte(okHead), []byte{0x82, 127, 0x80, 0, 0, 0, 0, 0, 0, 0}), Bad, false, false, "high bit"},
		{"masked from the server", FromServer, cat([]byte(okHead), frame(true, opText, true, 1)), Bad, false, false, "masked frame from the server"},
		{"unmasked from the client", FromClient, frame(true, opText, false, 1), Bad, false, false, "unmasked frame"},
		{"fragmented ping", FromClient, frame(false, opPing, true, 1), Bad, false, false, "fragmented control"},
		{"long ping", FromClient, frame(true, opPing, true, 126), Bad, false, false, "over 125"},
		{"stray continuation", FromClient, frame(true, opContinuation, true, 1), Bad, false, false, "continuation"},
		{"new message inside a fragmented one", FromClient, cat(frame(false, opText, true, 1), frame(true, opText, true, 1)), Bad, false, false, "inside a fragmented"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var whole, bytewise Tracker
			whole.Reset(tt.role)
			whole.Feed(tt.in)
			bytewise.Reset(tt.role)
			for i := range tt.in {
				bytewise.Feed(tt.in[i : i+1])
			}
			if whole != bytewise {
				t.Fatalf("fed whole %+v, byte by byte %+v", whole, bytewise)
			}
			if whole.State() != tt.state || whole.AtBoundary() != tt.boundary || whole.Closed() != tt.closed {
				t.Fatalf("state %v boundary %v closed %v, want %v %v %v", whole.State(), whole.AtBoundary(), whole.Closed(), tt.state, tt.boundary, tt.closed)
			}
			err := whole.Err()
			if (err == nil) != (tt.err == "") || err != nil && !bytes.Contains([]byte(err.Error()), []byte(tt.err)) {
				t.Fatalf("err %v, want %q", err, tt.err)
			}
		})
	}
}

// TestTrackerSkipAndNeed pins the length bookkeeping a splicing reader
// relies on: Need stops a reader at the end of the frame, SpliceLimit is the
// payload left, and Skip over it ends the frame as Feed would.
func TestTrackerSkipAndNeed(t *testing.T) {
	var tr Tracker
	tr.Reset(FromClient)
	f := cat(frame(false, opBinary, true, 1000), frame(true, opContinuation, true, 70000))
	if tr.Need() != 2 || tr.SpliceLimit() != 0 {
		t.Fatalf("fresh: need %d limit %d", tr.Need(), tr.SpliceLimit())
	}
	tr.Feed(f[:2])
	if tr.Need() != 2 { // 16-bit length
		t.Fatalf("after 2 bytes need %d, want 2", tr.Need())
	}
	tr.Feed(f[2:8])
	if tr.SpliceLimit() != 1000 || tr.Need() != 1000 {
		t.Fatalf("at payload: limit %d need %d", tr.SpliceLimit(), tr.Need())
	}
	tr.Skip(999)
	tr.Skip(1)
	if tr.SpliceLimit() != 0 || tr.AtBoundary() {
		t.Fatalf("after the first fragment: limit %d boundary %v", tr.SpliceLimit(), tr.AtBoundary())
	}
	rest := f[1008:]
	tr.Feed(rest[:14])
	if tr.SpliceLimit() != 70000 {
		t.Fatalf("second fragment limit %d", tr.SpliceLimit())
	}
	tr.Skip(70000)
	if !tr.AtBoundary() {
		t.Fatal("not at a boundary after the last fragment")
	}
}

// TestAppendClose pins the bytes of the close frames sent on a polite end:
// code 1001 and the reason, masked toward the server only.
func TestAppendClose(t *testing.T) {
	got := AppendClose(nil, CloseGoingAway, "bye", false, [4]byte{})
	if want := []byte{0x88, 5, 0x03, 0xE9, 'b', 'y', 'e'}; !bytes.Equal(got, want) {
		t.Fatalf("to client % x, want % x", got, want)
	}
	key := [4]byte{1, 2, 3, 4}
	got = AppendClose(nil, CloseGoingAway, "bye", true, key)
	want := []byte{0x88, 0x85, 1, 2, 3, 4, 0x03 ^ 1, 0xE9 ^ 2, 'b' ^ 3, 'y' ^ 4, 'e' ^ 1}
	if !bytes.Equal(got, want) {
		t.Fatalf("to server % x, want % x", got, want)
	}
	var tr Tracker
	tr.Reset(FromClient)
	tr.Feed(got)
	if !tr.Closed() || !tr.AtBoundary() {
		t.Fatalf("a tracker does not see a whole close frame: %+v", tr)
	}
	long := AppendClose(nil, CloseGoingAway, string(bytes.Repeat([]byte{'r'}, 200)), false, key)
	if len(long) != 2+maxControlPayload {
		t.Fatalf("long reason: frame of %d bytes", len(long))
	}
}

// TestFeedAllocates pins that following frames allocates nothing.
func TestFeedAllocates(t *testing.T) {
	in := cat(frame(true, opText, true, 64), frame(false, opBinary, true, 200), frame(true, opPing, true, 0), frame(true, opContinuation, true, 70000))
	var tr Tracker
	if n := testing.AllocsPerRun(100, func() {
		tr.Reset(FromClient)
		tr.Feed(in)
	}); n != 0 {
		t.Fatalf("%v allocations per stream", n)
	}
}

func BenchmarkFeed64(b *testing.B) {
	f := frame(true, opBinary, true, 64)
	var tr Tracker
	tr.Reset(FromClient)
	b.SetBytes(int64(len(f)))
	for b.Loop() {
		tr.Feed(f)
	}
}
