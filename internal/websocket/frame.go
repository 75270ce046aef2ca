package websocket

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Frame layout limits (RFC 6455 section 5.2).
const (
	// maxControlPayload is the largest payload of a control frame
	// (RFC 6455 section 5.5: "All control frames MUST have a payload length
	// of 125 bytes or less").
	maxControlPayload = 125
	// maxHeaderLen is 2 fixed bytes, 8 extended length bytes, 4 mask bytes.
	maxHeaderLen = 14
	// growChunk bounds how far a payload buffer grows ahead of the bytes
	// actually received, so a peer announcing a large frame cannot make us
	// allocate memory it never sends.
	growChunk = 64 << 10
)

// Bits of the first two header bytes (RFC 6455 section 5.2).
const (
	bitFIN     = 0x80
	bitsRSV    = 0x70
	maskOpcode = 0x0F
	bitMASK    = 0x80
	maskLen7   = 0x7F
	len16      = 126 // payload length 126: a 16-bit length follows
	len64      = 127 // payload length 127: a 64-bit length follows
)

// frameHeader is a decoded frame header (RFC 6455 section 5.2).
type frameHeader struct {
	fin    bool    // FIN: final fragment of a message
	rsv    byte    // RSV1-3 bits as they appear in byte 0 (0 unless an extension is negotiated)
	op     Opcode  // opcode, possibly reserved
	masked bool    // MASK bit
	length int64   // payload length, 0 <= length < 2^63
	key    [4]byte // masking key, meaningful only when masked
}

// readFrameHeader decodes one frame header from br. The length is decoded
// from 7, 7+16 or 7+64 bits; a 64-bit length with the most significant bit set
// is a protocol error (RFC 6455 section 5.2). Non-minimal length encodings are
// accepted (the minimal-encoding MUST binds the sender). An error is either a
// *CloseError (protocol violation) or an I/O error; io.EOF is returned only if
// no byte of the header was read.
func readFrameHeader(br *bufio.Reader) (frameHeader, error) {
	var h frameHeader
	b0, err := br.ReadByte()
	if err != nil {
		return h, err
	}
	b1, err := br.ReadByte()
	if err != nil {
		return h, noEOF(err)
	}
	h.fin = b0&bitFIN != 0
	h.rsv = b0 & bitsRSV
	h.op = Opcode(b0 & maskOpcode)
	h.masked = b1&bitMASK != 0
	switch n := b1 & maskLen7; n {
	case len16:
		var b [2]byte
		if err := readBytes(br, b[:]); err != nil {
			return h, err
		}
		h.length = int64(binary.BigEndian.Uint16(b[:]))
	case len64:
		var b [8]byte
		if err := readBytes(br, b[:]); err != nil {
			return h, err
		}
		u := binary.BigEndian.Uint64(b[:])
		if u>>63 != 0 {
			// RFC 6455 section 5.2: "the most significant bit MUST be 0".
			return h, &CloseError{Code: CloseProtocolError, Reason: "64-bit payload length has its high bit set"}
		}
		h.length = int64(u)
	default:
		h.length = int64(n)
	}
	if h.masked {
		if err := readBytes(br, h.key[:]); err != nil {
			return h, err
		}
	}
	return h, nil
}

// readBytes fills b from br byte by byte (header fields are at most 8 bytes;
// ReadByte keeps the decoder allocation-free) and reports a truncated header
// as io.ErrUnexpectedEOF.
func readBytes(br *bufio.Reader, b []byte) error {
	for i := range b {
		c, err := br.ReadByte()
		if err != nil {
			return noEOF(err)
		}
		b[i] = c
	}
	return nil
}

// noEOF turns io.EOF in the middle of a frame into io.ErrUnexpectedEOF.
func noEOF(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

// check validates h for a receiver; server is true when the receiver is the
// server (it then requires masked frames). It returns nil or a protocol
// error to fail the connection with.
func (h *frameHeader) check(server bool) *CloseError {
	switch {
	case h.rsv != 0:
		// RFC 6455 section 5.2: RSV1-3 "MUST be 0 unless an extension is
		// negotiated"; we negotiate none.
		return &CloseError{Code: CloseProtocolError, Reason: "reserved bits set"}
	case !h.op.isKnown():
		// RFC 6455 section 5.2: reserved opcodes fail the connection.
		return &CloseError{Code: CloseProtocolError, Reason: "reserved opcode " + h.op.String()}
	case h.op.isControl() && !h.fin:
		// RFC 6455 section 5.5: "Control frames MUST NOT be fragmented."
		return &CloseError{Code: CloseProtocolError, Reason: "fragmented control frame"}
	case h.op.isControl() && h.length > maxControlPayload:
		// RFC 6455 section 5.5: control payloads are at most 125 bytes.
		return &CloseError{Code: CloseProtocolError, Reason: "control frame payload over 125 bytes"}
	case server && !h.masked:
		// RFC 6455 section 5.1: "The server MUST close the connection upon
		// receiving a frame that is not masked."
		return &CloseError{Code: CloseProtocolError, Reason: "unmasked client frame"}
	case !server && h.masked:
		// RFC 6455 section 5.1: "A client MUST close a connection if it
		// detects a masked frame."
		return &CloseError{Code: CloseProtocolError, Reason: "masked server frame"}
	}
	return nil
}

// appendFrameHeader appends the header of a frame with the given fields to
// dst, using the minimal length encoding (RFC 6455 section 5.2). The key is
// written only when masked.
func appendFrameHeader(dst []byte, fin bool, op Opcode, masked bool, key [4]byte, length int64) []byte {
	b0 := byte(op) & maskOpcode
	if fin {
		b0 |= bitFIN
	}
	var b1 byte
	if masked {
		b1 = bitMASK
	}
	switch {
	case length < len16:
		dst = append(dst, b0, b1|byte(length))
	case length <= 0xFFFF:
		dst = append(dst, b0, b1|len16)
		dst = binary.BigEndian.AppendUint16(dst, uint16(length))
	default:
		dst = append(dst, b0, b1|len64)
		dst = binary.BigEndian.AppendUint64(dst, uint64(length))
	}
	if masked {
		dst = append(dst, key[:]...)
	}
	return dst
}

// maskBytes XORs b with the masking key (RFC 6455 section 5.3:
// "octet i of the transformed data is the XOR of octet i of the original data
// with octet at index i modulo 4 of the masking key"). pos is the index of
// b[0] within the frame payload; the position after b is returned so long
// payloads can be masked in pieces. Masking is its own inverse.
func maskBytes(key [4]byte, pos int, b []byte) int {
	pos &= 3
	if len(b) >= 8 {
		// Eight bytes at a time: the key rotated to pos, repeated twice.
		var k [8]byte
		for i := range k {
			k[i] = key[(pos+i)&3]
		}
		kw := binary.LittleEndian.Uint64(k[:])
		n := len(b) &^ 7
		for i := 0; i < n; i += 8 {
			binary.LittleEndian.PutUint64(b[i:], binary.LittleEndian.Uint64(b[i:])^kw)
		}
		b = b[n:] // n is a multiple of 4, so pos is unchanged
	}
	for i := range b {
		b[i] ^= key[(pos+i)&3]
	}
	return (pos + len(b)) & 3
}

// readPayload appends n bytes from r to dst. The buffer grows at most
// growChunk (or doubling) ahead of the bytes actually read and never beyond
// len(dst)+n, so memory use is bounded both by what the peer sent and by n,
// which the caller has checked against its read limit.
func readPayload(r io.Reader, dst []byte, n int64) ([]byte, error) {
	for n > 0 {
		if cap(dst) == len(dst) {
			newCap := int64(len(dst)) + min(n, max(int64(cap(dst)), growChunk))
			grown := make([]byte, len(dst), newCap)
			copy(grown, dst)
			dst = grown
		}
		step := min(n, int64(cap(dst)-len(dst)))
		start := len(dst)
		dst = dst[:start+int(step)]
		if _, err := io.ReadFull(r, dst[start:]); err != nil {
			return dst[:start], fmt.Errorf("read frame payload: %w", noEOF(err))
		}
		n -= step
	}
	return dst, nil
}
