package preamble

// MaxHeaders is the largest number of header field lines a head may have;
// a head with more is refused with 400 "too many header fields".
const MaxHeaders = 128

// span is a half-open byte range [off, end) of the parsed buffer.
type span struct{ off, end uint32 }

// field is one header field line: name and OWS-trimmed value.
type field struct{ name, value span }

// Head is a parsed request head. Its byte slices alias the buffer given to
// [Parse] or [Read] and are valid only until that buffer is reused; they are
// capped at their length so that appending to one never overwrites the
// buffer.
//
// A Head is large (about 2 KiB, the header fields live in a fixed inline
// array so parsing never allocates); reuse one per connection. The zero Head
// is an empty head: its accessors return nil, zero or false. After Parse or
// Read return an error other than a Check refusal, the contents are
// unspecified.
type Head struct {
	buf    []byte
	method span
	target span
	proto  span
	minor  uint8

	// Incremental parsing state (see parse.go).
	state   uint8
	empties uint8 // leading empty lines skipped
	hosts   uint8 // Host field lines seen
	length  int   // bytes of the complete head, set when state == stateDone
	line    int   // start of the current, not yet complete line
	scan    int   // bytes before this offset hold no CR or LF of the current line

	nfields int
	fields  [MaxHeaders]field
}

func (h *Head) bytes(s span) []byte {
	if h.buf == nil {
		return nil
	}
	return h.buf[s.off:s.end:s.end]
}

// Method returns the request method, e.g. "GET".
func (h *Head) Method() []byte { return h.bytes(h.method) }

// Target returns the request-target exactly as sent, e.g.
// "/socket.io/?EIO=4&transport=polling".
func (h *Head) Target() []byte { return h.bytes(h.target) }

// Proto returns the HTTP-version of the request line: "HTTP/1.0" or
// "HTTP/1.1".
func (h *Head) Proto() []byte { return h.bytes(h.proto) }

// ProtoMinor returns the minor HTTP version: 0 or 1.
func (h *Head) ProtoMinor() int { return int(h.minor) }

// Len returns the number of bytes of the head, from the first byte (leading
// empty lines included) through the empty line that ends it. It is 0 unless
// parsing succeeded.
func (h *Head) Len() int { return h.length }

// Bytes returns the head as received: the buffer's first Len bytes.
func (h *Head) Bytes() []byte {
	if h.buf == nil {
		return nil
	}
	return h.buf[:h.length:h.length]
}

// NumHeaders returns the number of header field lines.
func (h *Head) NumHeaders() int { return h.nfields }

// HeaderAt returns the name and OWS-trimmed value of the i-th header field
// line, in the order received. It panics if i is not in [0, NumHeaders()).
func (h *Head) HeaderAt(i int) (name, value []byte) {
	if i < 0 || i >= h.nfields {
		panic("preamble: HeaderAt index out of range")
	}
	f := &h.fields[i]
	return h.bytes(f.name), h.bytes(f.value)
}
