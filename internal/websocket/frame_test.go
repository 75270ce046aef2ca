package websocket

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"runtime"
	"testing"
)

func TestFrameHeaderRoundTrip(t *testing.T) {
	tests := []struct {
		name    string
		fin     bool
		op      Opcode
		masked  bool
		length  int64
		wantLen int // encoded header length
	}{
		{"empty text", true, OpText, false, 0, 2},
		{"7-bit max", true, OpBinary, false, 125, 2},
		{"16-bit min", true, OpBinary, true, 126, 8},
		{"16-bit max", false, OpText, false, 65535, 4},
		{"64-bit min", true, OpBinary, true, 65536, 14},
		{"64-bit max", true, OpContinuation, false, 1<<63 - 1, 10},
		{"ping", true, OpPing, true, 125, 6},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := appendFrameHeader(nil, tt.fin, tt.op, tt.masked, testKey, tt.length)
			if len(b) != tt.wantLen {
				t.Fatalf("encoded %d bytes, want %d", len(b), tt.wantLen)
			}
			h, err := readFrameHeader(bufio.NewReader(bytes.NewReader(b)))
			if err != nil {
				t.Fatal(err)
			}
			want := frameHeader{fin: tt.fin, op: tt.op, masked: tt.masked, length: tt.length}
			if tt.masked {
				want.key = testKey
			}
			if h != want {
				t.Fatalf("decoded %+v, want %+v", h, want)
			}
		})
	}
}

func TestReadFrameHeaderErrors(t *testing.T) {
	tests := []struct {
		name     string
		in       []byte
		wantCode uint16 // 0: an I/O error is expected instead
		wantErr  error
	}{
		{"empty", nil, 0, io.EOF},
		{"one byte", []byte{0x81}, 0, io.ErrUnexpectedEOF},
		{"short 16-bit length", []byte{0x82, 126, 1}, 0, io.ErrUnexpectedEOF},
		{"short 64-bit length", []byte{0x82, 127, 0, 0, 0}, 0, io.ErrUnexpectedEOF},
		{"short mask key", []byte{0x82, 0x81, 1, 2}, 0, io.ErrUnexpectedEOF},
		// RFC 6455 section 5.2: the 64-bit length's most significant bit must be 0.
		{"64-bit high bit", []byte{0x82, 127, 0x80, 0, 0, 0, 0, 0, 0, 0}, CloseProtocolError, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := readFrameHeader(bufio.NewReader(bytes.NewReader(tt.in)))
			var ce *CloseError
			switch {
			case tt.wantCode != 0:
				if !errors.As(err, &ce) || ce.Code != tt.wantCode {
					t.Fatalf("err = %v, want close code %d", err, tt.wantCode)
				}
			case !errors.Is(err, tt.wantErr):
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
		})
	}
}

func TestFrameHeaderCheck(t *testing.T) {
	tests := []struct {
		name   string
		h      frameHeader
		server bool
		ok     bool
	}{
		{"masked text to server", frameHeader{fin: true, op: OpText, masked: true}, true, true},
		{"unmasked text to client", frameHeader{fin: true, op: OpText}, false, true},
		{"unmasked to server", frameHeader{fin: true, op: OpText}, true, false},
		{"masked to client", frameHeader{fin: true, op: OpText, masked: true}, false, false},
		{"rsv1", frameHeader{fin: true, op: OpText, rsv: 0x40}, false, false},
		{"rsv3", frameHeader{fin: true, op: OpText, rsv: 0x10}, false, false},
		{"opcode 3", frameHeader{fin: true, op: 3}, false, false},
		{"opcode 0xB", frameHeader{fin: true, op: 0xB}, false, false},
		{"fragmented ping", frameHeader{op: OpPing}, false, false},
		{"close 125", frameHeader{fin: true, op: OpClose, length: 125}, false, true},
		{"close 126", frameHeader{fin: true, op: OpClose, length: 126}, false, false},
		{"continuation not final", frameHeader{op: OpContinuation, length: 1 << 40}, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ce := tt.h.check(tt.server)
			if (ce == nil) != tt.ok {
				t.Fatalf("check = %v, want ok %v", ce, tt.ok)
			}
			if ce != nil && ce.Code != CloseProtocolError {
				t.Fatalf("code = %d, want %d", ce.Code, CloseProtocolError)
			}
		})
	}
}

// naiveMask is RFC 6455 section 5.3's definition, byte by byte.
func naiveMask(key [4]byte, pos int, b []byte) {
	for i := range b {
		b[i] ^= key[(pos+i)%4]
	}
}

func TestMaskBytes(t *testing.T) {
	key := [4]byte{1, 2, 4, 8}
	for n := 0; n <= 40; n++ {
		for pos := range 4 {
			in := make([]byte, n)
			for i := range in {
				in[i] = byte(i * 7)
			}
			got := append([]byte(nil), in...)
			want := append([]byte(nil), in...)
			next := maskBytes(key, pos, got)
			naiveMask(key, pos, want)
			if !bytes.Equal(got, want) || next != (pos+n)%4 {
				t.Fatalf("n=%d pos=%d: got %x next %d, want %x next %d", n, pos, got, next, want, (pos+n)%4)
			}
		}
	}
	// Masking in pieces equals masking at once (used by chunked client writes).
	data := bytes.Repeat([]byte("abcdefghijk"), 20)
	whole := append([]byte(nil), data...)
	maskBytes(key, 0, whole)
	pieces := append([]byte(nil), data...)
	pos := 0
	for _, cut := range [][2]int{{0, 3}, {3, 20}, {20, 21}, {21, 100}, {100, len(data)}} {
		pos = maskBytes(key, pos, pieces[cut[0]:cut[1]])
	}
	if !bytes.Equal(whole, pieces) {
		t.Fatal("masking in pieces differs from masking at once")
	}
}

// RFC 6455 section 5.7 examples.
func TestRFCExampleFrames(t *testing.T) {
	tests := []struct {
		name   string
		in     []byte
		server bool
		want   string
	}{
		{"unmasked Hello", []byte{0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f}, false, "Hello"},
		{"masked Hello", []byte{0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58}, true, "Hello"},
		{"fragmented Hel lo", []byte{0x01, 0x03, 0x48, 0x65, 0x6c, 0x80, 0x02, 0x6c, 0x6f}, false, "Hello"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newConn(&fakeConn{r: bytes.NewReader(tt.in)}, nil, !tt.server)
			c.br = bufio.NewReader(c.conn)
			op, p, err := c.ReadMessage()
			if err != nil || op != OpText || string(p) != tt.want {
				t.Fatalf("ReadMessage = %v %q %v, want text %q", op, p, err, tt.want)
			}
		})
	}
}

// TestReadPayloadBoundedAllocation checks that a frame announcing more bytes
// than it delivers costs memory in proportion to what arrived, not to the
// announced length.
func TestReadPayloadBoundedAllocation(t *testing.T) {
	tests := []struct {
		name     string
		announce int64
		limit    int64
		wantCode uint16 // 0: the data simply runs out
	}{
		{"just under the default limit", DefaultReadLimit - 1, 0, 0},
		{"huge length over the limit", 1 << 62, 0, CloseMessageTooBig},
		{"over a small limit", 4097, 4096, CloseMessageTooBig},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := concat(appendFrameHeader(nil, true, OpBinary, false, testKey, tt.announce), []byte("only a few bytes"))
			c := newConn(&fakeConn{r: bytes.NewReader(in)}, nil, true)
			c.br = bufio.NewReader(c.conn)
			c.SetReadLimit(tt.limit)
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			_, _, err := c.ReadMessage()
			runtime.ReadMemStats(&after)
			if err == nil {
				t.Fatal("ReadMessage succeeded on a truncated frame")
			}
			var ce *CloseError
			if tt.wantCode != 0 && (!errors.As(err, &ce) || ce.Code != tt.wantCode) {
				t.Fatalf("err = %v, want close code %d", err, tt.wantCode)
			}
			if got := after.TotalAlloc - before.TotalAlloc; got > 2*growChunk {
				t.Fatalf("allocated %d bytes for a frame announcing %d bytes and delivering 16", got, tt.announce)
			}
		})
	}
}

func TestCloseCodes(t *testing.T) {
	valid := []uint16{1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3999, 4000, 4999}
	invalid := []uint16{0, 999, 1004, 1005, 1006, 1015, 1016, 2000, 2999, 5000, 65535}
	for _, code := range valid {
		if !validCloseCode(code) {
			t.Errorf("validCloseCode(%d) = false", code)
		}
	}
	for _, code := range invalid {
		if validCloseCode(code) {
			t.Errorf("validCloseCode(%d) = true", code)
		}
	}
	parse := []struct {
		name     string
		in       []byte
		wantCode uint16
		wantErr  uint16
	}{
		{"empty", nil, CloseNoStatus, 0},
		{"one byte", []byte{0x03}, 0, CloseProtocolError},
		{"1000", []byte{0x03, 0xe8}, CloseNormal, 0},
		{"1000 with reason", []byte("\x03\xe8bye"), CloseNormal, 0},
		{"1005 on the wire", []byte{0x03, 0xed}, 0, CloseProtocolError},
		{"bad UTF-8 reason", []byte("\x03\xe8\xff"), 0, CloseInvalidPayload},
	}
	for _, tt := range parse {
		code, _, ce := parseClosePayload(tt.in)
		switch {
		case tt.wantErr != 0 && (ce == nil || ce.Code != tt.wantErr):
			t.Errorf("%s: err = %v, want code %d", tt.name, ce, tt.wantErr)
		case tt.wantErr == 0 && (ce != nil || code != tt.wantCode):
			t.Errorf("%s: code = %d err = %v, want %d", tt.name, code, ce, tt.wantCode)
		}
	}
}
