package websocket

import (
	"bufio"
	"bytes"
	"testing"

	"github.com/tether-proxy/tether/wsframe"
)

// fuzzMaxStream bounds the frame sequences FuzzFrameTracker builds.
const fuzzMaxStream = 256 << 10

// FuzzFrameTracker checks wsframe.Tracker, which tether uses to follow frame
// boundaries through its tunnels, against this package's frame reader
// (readFrameHeader, check, and readMessage's fragmentation rules): data
// drives a generator of frame sequences (valid and not: reserved opcodes,
// fragmented or long control frames, wrong masking, stray continuations,
// 64-bit lengths with the high bit set) and the points where the stream is
// cut into reads. At every cut before the first frame the reader refuses,
// the tracker must agree on whether the stream stands between two messages
// and whether a close frame passed; at the end it must be Bad exactly when
// the reader refused a frame. Reserved bits are ignored by the tracker (an
// extension may use them) and so are not held against it.
func FuzzFrameTracker(f *testing.F) {
	// The seed corpus lives in testdata/fuzz/FuzzFrameTracker.
	f.Fuzz(func(t *testing.T, server bool, data []byte) {
		stream, cuts := genFrames(data, !server)
		offset := 0
		role := wsframe.FromClient
		if server {
			head := "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n"
			stream = append([]byte(head), stream...)
			offset = len(head)
			role = wsframe.FromServer
		}
		ref := referenceFrames(stream[offset:], !server)

		var tr wsframe.Tracker
		tr.Reset(role)
		tr.Feed(stream[:offset])
		prev := 0
		for _, c := range append(cuts, len(stream)-offset) {
			c = min(c, len(stream)-offset)
			if c < prev {
				continue
			}
			tr.Feed(stream[offset+prev : offset+c])
			prev = c
			if ref.errAt >= 0 && c > ref.errAt {
				continue // the tracker may see the bad header before or after this cut
			}
			if tr.State() != wsframe.Frames {
				t.Fatalf("cut %d: tracker %v (%v) before any bad frame", c, tr.State(), tr.Err())
			}
			boundary, closed := ref.at(c)
			if tr.AtBoundary() != boundary || tr.Closed() != closed {
				t.Fatalf("cut %d: tracker boundary %v closed %v, reader %v %v", c, tr.AtBoundary(), tr.Closed(), boundary, closed)
			}
		}
		if bad := tr.State() == wsframe.Bad; bad != (ref.errAt >= 0) {
			t.Fatalf("end: tracker %v (%v), reader refused a frame at %d", tr.State(), tr.Err(), ref.errAt)
		}
	})
}

// refFrames is what the reader found in a stream.
type refFrames struct {
	ends     []int  // offsets where frames end
	boundary []bool // at ends[i]: no fragmented message open
	closed   []bool // at ends[i]: a close frame has passed
	errAt    int    // offset of the first frame the reader refuses, -1 if none
}

// at is what the reader says of offset c: a boundary only where a frame ends
// and no message is open.
func (r *refFrames) at(c int) (boundary, closed bool) {
	boundary = c == 0
	for i, e := range r.ends {
		if e > c {
			break
		}
		closed = r.closed[i]
		boundary = e == c && r.boundary[i]
	}
	return boundary, closed
}

// referenceFrames decodes stream with readFrameHeader and check, applying
// readMessage's fragmentation rules; fromClient says who sent it.
func referenceFrames(stream []byte, fromClient bool) refFrames {
	ref := refFrames{errAt: -1}
	rd := bytes.NewReader(stream)
	br := bufio.NewReader(rd)
	pos := func() int { return len(stream) - rd.Len() - br.Buffered() }
	started, closed := false, false
	for {
		start := pos()
		h, err := readFrameHeader(br)
		if err != nil {
			if _, ok := err.(*CloseError); ok {
				ref.errAt = start
			}
			return ref
		}
		h.rsv = 0 // an extension's business; the tracker does not judge them
		bad := h.check(fromClient) != nil ||
			!h.op.isControl() && h.op == OpContinuation && !started ||
			!h.op.isControl() && h.op != OpContinuation && started
		if bad {
			ref.errAt = start
			return ref
		}
		if n, _ := br.Discard(int(min(h.length, int64(len(stream))))); int64(n) < h.length {
			return ref // truncated payload: no more frame ends
		}
		switch {
		case h.op == OpClose:
			closed = true
		case !h.op.isControl():
			started = !h.fin
		}
		ref.ends = append(ref.ends, pos())
		ref.boundary = append(ref.boundary, !started)
		ref.closed = append(ref.closed, closed)
	}
}

// genFrames builds a frame sequence and cut points from data. Each frame
// takes up to four bytes of data: flags, opcode choice, length choice, and
// a byte that rarely breaks the masking rule.
func genFrames(data []byte, fromClient bool) (stream []byte, cuts []int) {
	opcodes := [...]Opcode{OpText, OpBinary, OpContinuation, OpContinuation, OpPing, OpPong, OpClose, 0x3, 0xB}
	next := func() byte {
		if len(data) == 0 {
			return 0
		}
		b := data[0]
		data = data[1:]
		return b
	}
	for len(data) > 0 && len(stream) < fuzzMaxStream {
		flags, opb, lenb, maskb := next(), next(), next(), next()
		op := opcodes[int(opb)%len(opcodes)]
		fin := flags&1 != 0 || op.isControl() && flags&2 == 0
		masked := fromClient != (maskb == 0xFF)
		var length int64
		switch lenb >> 6 {
		case 0, 1:
			length = int64(lenb & 0x7F)
		case 2:
			length = 126 + int64(lenb&0x3F)*1000
		default:
			length = int64(lenb&0x3F) * 5
		}
		hdr := appendFrameHeader(nil, fin, op, masked, [4]byte{1, 2, 3, 4}, length)
		if flags&0x70 != 0 && flags&0x80 != 0 {
			hdr[0] |= flags & 0x70 // reserved bits, as an extension sets them
		}
		if lenb == 0xFF {
			// A 64-bit length with its high bit set.
			hdr = append([]byte{hdr[0], hdr[1]&bitMASK | len64}, 0x80, 0, 0, 0, 0, 0, 0, 1)
			length = 0
		}
		stream = append(stream, hdr...)
		stream = append(stream, make([]byte, length)...)
		if flags&0x08 != 0 {
			cuts = append(cuts, len(stream)-int(length)-int(flags>>4&7)) // inside the header or just before it
		}
		cuts = append(cuts, len(stream)-int(length/int64(1+flags>>5)))
	}
	for i := range cuts {
		cuts[i] = max(cuts[i], 0)
	}
	return stream, cuts
}
