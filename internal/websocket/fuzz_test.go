package websocket

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"runtime"
	"testing"
	"unicode/utf8"
)

// fuzzLimit is the read limit used while fuzzing.
const fuzzLimit = 4096

// allocSlack covers allocations besides message payloads (errors, span
// granularity of the runtime's accounting).
const allocSlack = 64 << 10

// FuzzReadFrame feeds arbitrary bytes to the frame decoder and to a whole
// Conn in both roles. Properties: no panic; a decoded header consumes exactly
// its encoded size and re-encodes to the same header; messages respect the
// read limit, text is UTF-8 and each message survives a write/read round
// trip; every frame the Conn writes in reply (pongs, close) is valid for the
// peer; memory allocated stays within the read limit per message.
func FuzzReadFrame(f *testing.F) {
	// The seed corpus lives in testdata/fuzz/FuzzReadFrame.
	f.Fuzz(func(t *testing.T, data []byte) {
		checkHeaderDecode(t, data)
		for _, server := range []bool{true, false} {
			checkConnRead(t, data, server)
		}
	})
}

// checkHeaderDecode decodes one header from data and re-encodes it.
func checkHeaderDecode(t *testing.T, data []byte) {
	rd := bytes.NewReader(data)
	br := bufio.NewReader(rd)
	h, err := readFrameHeader(br)
	if err != nil {
		var ce *CloseError
		switch {
		case errors.As(err, &ce):
			if len(data) < 3 || data[1]&maskLen7 != len64 || data[2]&0x80 == 0 {
				t.Fatalf("protocol error %v for a header without a 64-bit length with high bit", err)
			}
		case len(data) == 0 && err != io.EOF, len(data) > 0 && err != io.ErrUnexpectedEOF:
			t.Fatalf("unexpected error %v for %d bytes", err, len(data))
		}
		return
	}
	consumed := len(data) - rd.Len() - br.Buffered()
	want := 2
	switch data[1] & maskLen7 {
	case len16:
		want += 2
	case len64:
		want += 8
	}
	if h.masked {
		want += 4
	}
	if consumed != want || h.length < 0 {
		t.Fatalf("header %+v consumed %d bytes, want %d", h, consumed, want)
	}
	enc := appendFrameHeader(nil, h.fin, h.op, h.masked, h.key, h.length)
	enc[0] |= h.rsv
	if len(enc) > consumed {
		t.Fatalf("re-encoding %+v took %d bytes, more than the %d decoded", h, len(enc), consumed)
	}
	h2, err := readFrameHeader(bufio.NewReader(bytes.NewReader(enc)))
	if err != nil || h2 != h {
		t.Fatalf("round trip %+v -> %x -> %+v, %v", h, enc, h2, err)
	}
}

// checkConnRead reads messages from data with a Conn in the given role.
func checkConnRead(t *testing.T, data []byte, server bool) {
	var out bytes.Buffer
	c := newConn(&fakeConn{r: bytes.NewReader(data), w: &out}, nil, !server)
	c.br = bufio.NewReader(c.conn)
	c.SetReadLimit(fuzzLimit)
	var msgs [][]byte
	var ops []Opcode
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	calls := 0
	var err error
	for err == nil {
		var op Opcode
		var p []byte
		op, p, err = c.ReadMessage()
		calls++
		if err == nil {
			msgs, ops = append(msgs, p), append(ops, op)
		}
	}
	runtime.ReadMemStats(&after)
	if got, limit := after.TotalAlloc-before.TotalAlloc, uint64(calls*2*fuzzLimit+allocSlack); got > limit {
		t.Fatalf("allocated %d bytes in %d ReadMessage calls, limit %d", got, calls, limit)
	}

	var ce *CloseError
	switch {
	case errors.Is(err, io.EOF):
		if _, _, ok := c.PeerClose(); !ok {
			t.Fatal("io.EOF without a close frame")
		}
	case errors.As(err, &ce):
		if ce.Code != CloseProtocolError && ce.Code != CloseInvalidPayload && ce.Code != CloseMessageTooBig {
			t.Fatalf("failed with unexpected code %d", ce.Code)
		}
	case !errors.Is(err, io.ErrUnexpectedEOF):
		t.Fatalf("unexpected error %v", err)
	}
	if _, _, again := c.ReadMessage(); again != err {
		t.Fatalf("error not sticky: %v then %v", err, again)
	}

	for i, p := range msgs {
		if len(p) > fuzzLimit {
			t.Fatalf("message of %d bytes over the limit %d", len(p), fuzzLimit)
		}
		switch ops[i] {
		case OpText:
			if !utf8.Valid(p) {
				t.Fatalf("text message is not UTF-8: %q", p)
			}
		case OpBinary:
		default:
			t.Fatalf("ReadMessage returned opcode %v", ops[i])
		}
		roundTrip(t, ops[i], p, server)
	}
	checkWrittenFrames(t, out.Bytes(), !server)
}

// roundTrip writes a message as the peer of a reader in role server and reads
// it back.
func roundTrip(t *testing.T, op Opcode, p []byte, server bool) {
	var buf bytes.Buffer
	w := newConn(&fakeConn{r: bytes.NewReader(nil), w: &buf}, nil, server)
	if err := w.WriteMessage(op, p); err != nil {
		t.Fatalf("write back: %v", err)
	}
	r := newConn(&fakeConn{r: &buf}, nil, !server)
	r.br = bufio.NewReader(r.conn)
	gotOp, got, err := r.ReadMessage()
	if err != nil || gotOp != op || !bytes.Equal(got, p) {
		t.Fatalf("round trip of %v %q: %v %q, %v", op, p, gotOp, got, err)
	}
}

// checkWrittenFrames checks that frames a Conn wrote are valid for a
// receiver in role receiverIsServer: control frames only, a close frame with
// a valid body last.
func checkWrittenFrames(t *testing.T, out []byte, receiverIsServer bool) {
	rd := bytes.NewReader(out)
	br := bufio.NewReader(rd)
	for {
		h, err := readFrameHeader(br)
		if err == io.EOF {
			return
		}
		if err != nil {
			t.Fatalf("written frames do not parse: %v", err)
		}
		if ce := h.check(receiverIsServer); ce != nil || !h.op.isControl() {
			t.Fatalf("wrote invalid frame %+v: %v", h, ce)
		}
		p := make([]byte, h.length)
		if _, err := io.ReadFull(br, p); err != nil {
			t.Fatalf("written frame truncated: %v", err)
		}
		if h.op == OpClose {
			maskBytes(h.key, 0, p)
			if _, _, ce := parseClosePayload(p); ce != nil {
				t.Fatalf("wrote invalid close body %x: %v", p, ce)
			}
			if br.Buffered()+rd.Len() != 0 {
				t.Fatal("frames written after the close frame")
			}
		}
	}
}
