package wsframe

import (
	"errors"
	"math"
)

// Role says which end sends the stream a Tracker follows.
type Role uint8

// Roles.
const (
	// FromClient: frames the client sends, which must be masked (RFC 6455
	// section 5.1). Tracking starts with the first byte.
	FromClient Role = iota + 1
	// FromServer: the server's HTTP response head, then frames, which must
	// not be masked.
	FromServer
)

// State is where a Tracker stands.
type State uint8

// States.
const (
	// Off: not tracking (the zero Tracker, or a response other than 101).
	Off State = iota
	// Head: reading the server's HTTP response head.
	Head
	// Frames: following frames.
	Frames
	// Bad: the stream broke the framing rules; no longer tracking.
	Bad
)

// Stages of one frame while State is Frames.
const (
	stageB0      uint8 = iota // before the first header byte
	stageB1                   // before the second header byte
	stageLen                  // reading the extended payload length
	stageMask                 // reading the masking key
	stagePayload              // skipping the payload
)

// Header bits (RFC 6455 section 5.2).
const (
	bitFIN     = 0x80
	maskOpcode = 0x0F
	bitMASK    = 0x80
	maskLen7   = 0x7F
	len16      = 126
	len64      = 127

	opContinuation = 0x0
	opText         = 0x1
	opBinary       = 0x2
	opClose        = 0x8
	opPing         = 0x9
	opPong         = 0xA

	maxControlPayload = 125 // RFC 6455 section 5.5
)

// Bounds on the response head.
const (
	// maxHead bounds the response head a server tracker reads; a longer one
	// turns it Off.
	maxHead = 16 << 10
	// statusPrefix is matched byte by byte, the minor version digit free
	// (RFC 9112 section 4: status-line = HTTP-version SP status-code SP
	// [reason-phrase]).
	statusPrefix = "HTTP/1.x 101"
)

// Tracker follows one direction of a WebSocket stream. The zero value is
// Off; [Tracker.Reset] starts it. It holds no pointers and allocates
// nothing: copy it to look ahead.
type Tracker struct {
	rem     uint64 // payload bytes left (stagePayload), or extended length or key bytes left
	length  uint64 // the extended length read so far
	headLen uint32 // response head bytes read
	state   State
	stage   uint8
	role    Role
	b0      byte  // the current frame's first header byte
	inMsg   bool  // a fragmented data message has started and not ended
	closed  bool  // a whole close frame passed
	headPos uint8 // statusPrefix bytes matched, then len(statusPrefix)+1 when the status line matched
	crlf    uint8 // "\r\n\r\n" bytes matched at the end of the head
	why     uint8 // why the tracker is Bad: an index into badReasons
}

// Reset starts tracking a stream sent by role.
func (t *Tracker) Reset(role Role) {
	*t = Tracker{role: role, state: Frames}
	if role == FromServer {
		t.state = Head
	}
}

// State returns where the tracker stands.
func (t *Tracker) State() State { return t.state }

// On reports whether the tracker is reading the head or following frames.
func (t *Tracker) On() bool { return t.state == Head || t.state == Frames }

// Disable turns the tracker Off, for a stream that turned out not to be a
// WebSocket.
func (t *Tracker) Disable() {
	if t.state != Bad {
		t.state = Off
	}
}

// AtBoundary reports whether the bytes seen so far end a whole message:
// no frame is partly read and no fragmented message is open.
func (t *Tracker) AtBoundary() bool {
	return t.state == Frames && t.stage == stageB0 && !t.inMsg
}

// Closed reports whether a whole close frame passed.
func (t *Tracker) Closed() bool { return t.closed }

// Err says why the tracker is Bad, nil otherwise.
func (t *Tracker) Err() error {
	if t.state != Bad {
		return nil
	}
	return badReasons[t.why]
}

// SpliceLimit is how many of the next bytes are payload of the current
// frame: they may bypass the tracker ([Tracker.Skip]). Zero means the next
// byte is a header byte (or head byte) and must be fed.
func (t *Tracker) SpliceLimit() int64 {
	if t.state != Frames || t.stage != stagePayload {
		return 0
	}
	return int64(min(t.rem, math.MaxInt64))
}

// Need is how many bytes may be read next without passing the end of the
// current frame (or, in the head, of the part of the head known so far):
// reading at most Need bytes, then feeding them, lets a reader stop exactly
// at a frame boundary. It is at least 1 while the tracker is On.
func (t *Tracker) Need() int64 {
	switch {
	case t.state != Frames:
		return 1
	case t.stage == stageB0:
		return 2
	case t.stage == stageB1:
		return 1
	}
	return int64(min(t.rem, math.MaxInt64))
}

// Skip accounts for n payload bytes that bypassed the tracker; n must not
// exceed SpliceLimit.
func (t *Tracker) Skip(n int64) {
	if n <= 0 || t.state != Frames || t.stage != stagePayload {
		return
	}
	t.rem -= uint64(n)
	if t.rem == 0 {
		t.frameEnd()
	}
}

// Feed follows the bytes in p. It does nothing when the tracker is Off or Bad.
func (t *Tracker) Feed(p []byte) {
	for len(p) > 0 {
		switch t.state {
		case Head:
			p = p[t.head(p):]
		case Frames:
			p = p[t.frames(p):]
		default:
			return
		}
	}
}

// frames follows p while State is Frames and returns how much it used.
func (t *Tracker) frames(p []byte) int {
	i := 0
	for i < len(p) && t.state == Frames {
		switch t.stage {
		case stagePayload:
			n := min(t.rem, uint64(len(p)-i))
			i += int(n)
			t.rem -= n
			if t.rem == 0 {
				t.frameEnd()
			}
		case stageB0:
			t.b0 = p[i]
			t.stage = stageB1
			i++
		case stageB1:
			t.header1(p[i])
			i++
		case stageLen:
			t.length = t.length<<8 | uint64(p[i])
			i++
			if t.rem--; t.rem == 0 {
				t.lengthDone()
			}
		case stageMask:
			i++
			if t.rem--; t.rem == 0 {
				t.payloadStart()
			}
		}
	}
	return i
}

// header1 takes the second header byte: checks what the first two say and
// moves on to the length, the key or the payload.
func (t *Tracker) header1(b1 byte) {
	op := t.b0 & maskOpcode
	masked := b1&bitMASK != 0
	len7 := b1 & maskLen7
	switch {
	case op != opContinuation && op != opText && op != opBinary && op != opClose && op != opPing && op != opPong:
		t.fail(badOpcode)
		return
	case op >= opClose && t.b0&bitFIN == 0:
		t.fail(badFragmentedControl)
		return
	case op >= opClose && len7 > maxControlPayload:
		t.fail(badControlLength)
		return
	case t.role == FromClient && !masked:
		t.fail(badUnmasked)
		return
	case t.role == FromServer && masked:
		t.fail(badMasked)
		return
	case op == opContinuation && !t.inMsg:
		t.fail(badContinuation)
		return
	case (op == opText || op == opBinary) && t.inMsg:
		t.fail(badNewMessage)
		return
	}
	t.length = uint64(len7)
	switch len7 {
	case len16:
		t.stage, t.rem, t.length = stageLen, 2, 0
	case len64:
		t.stage, t.rem, t.length = stageLen, 8, 0
	default:
		t.lengthDone()
	}
}

// lengthDone moves on to the key or the payload once the length is known.
func (t *Tracker) lengthDone() {
	if t.length>>63 != 0 {
		// RFC 6455 section 5.2: "the most significant bit MUST be 0".
		t.fail(badLength)
		return
	}
	if t.role == FromClient {
		t.stage, t.rem = stageMask, 4
		return
	}
	t.payloadStart()
}

// payloadStart starts the payload, or ends an empty frame at once.
func (t *Tracker) payloadStart() {
	t.stage, t.rem = stagePayload, t.length
	if t.rem == 0 {
		t.frameEnd()
	}
}

// frameEnd records what the frame that just ended means for its message.
func (t *Tracker) frameEnd() {
	t.stage = stageB0
	op := t.b0 & maskOpcode
	switch {
	case op == opClose:
		t.closed = true
	case op >= opClose:
	default:
		t.inMsg = t.b0&bitFIN == 0
	}
}

// head reads the response head and returns how much of p it used: the
// status line must be "HTTP/1.x 101" then a space or CR; then the head ends
// at the first empty line.
func (t *Tracker) head(p []byte) int {
	for i, c := range p {
		t.headLen++
		if t.headLen > maxHead {
			t.state = Off
			return len(p)
		}
		switch n := int(t.headPos); {
		case n < len(statusPrefix):
			want := statusPrefix[n]
			if want == 'x' && c >= '0' && c <= '9' || want != 'x' && c == want {
				t.headPos++
				continue
			}
			t.state = Off
			return len(p)
		case n == len(statusPrefix):
			if c != ' ' && c != '\r' {
				t.state = Off
				return len(p)
			}
			t.headPos++
		}
		switch {
		case c == '\r' && (t.crlf == 0 || t.crlf == 2):
			t.crlf++
		case c == '\n' && (t.crlf == 1 || t.crlf == 3):
			t.crlf++
		case c == '\r':
			t.crlf = 1
		default:
			t.crlf = 0
		}
		if t.crlf == 4 {
			t.state, t.stage = Frames, stageB0
			return i + 1
		}
	}
	return len(p)
}

// Reasons a tracker gives up, RFC 6455 section 5.
var badReasons = [...]error{
	badOpcode:            errors.New("websocket: reserved opcode"),
	badFragmentedControl: errors.New("websocket: fragmented control frame"),
	badControlLength:     errors.New("websocket: control frame payload over 125 bytes"),
	badUnmasked:          errors.New("websocket: unmasked frame from the client"),
	badMasked:            errors.New("websocket: masked frame from the server"),
	badContinuation:      errors.New("websocket: continuation frame without a message"),
	badNewMessage:        errors.New("websocket: new data frame inside a fragmented message"),
	badLength:            errors.New("websocket: 64-bit payload length has its high bit set"),
}

const (
	badOpcode uint8 = iota
	badFragmentedControl
	badControlLength
	badUnmasked
	badMasked
	badContinuation
	badNewMessage
	badLength
)

func (t *Tracker) fail(why uint8) { t.state, t.why = Bad, why }
