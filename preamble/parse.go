package preamble

import (
	"bytes"
	"errors"
	"math"
)

// ErrIncomplete is returned by [Parse] when the buffer does not yet hold a
// complete request head and nothing in it is invalid so far: the caller
// should read more.
var ErrIncomplete = errors.New("preamble: incomplete request head")

// maxLeadingEmptyLines is how many empty lines before the request line are
// skipped. RFC 9112 section 2.2: a server SHOULD ignore at least one empty
// line (CRLF) received prior to the request-line.
const maxLeadingEmptyLines = 4

// maxBuf bounds the bytes examined so that offsets fit in a span.
const maxBuf = math.MaxInt32

// Parse states.
const (
	stateRequestLine uint8 = iota // before and in the request line
	stateFields                   // in the header field lines
	stateDone                     // the empty line ending the head was seen
)

// Parse parses the request head at the start of buf into h. It returns nil
// when buf starts with a complete, well-formed head (bytes after it, such as
// a body or an early WebSocket frame, are ignored), [ErrIncomplete] when buf
// holds no complete head yet and nothing invalid so far, or a [*Reject] for a
// malformed head. Parse applies no [Mode]; see [Check]. It does not allocate.
//
// Lines may end in CRLF or a bare LF (RFC 9112 section 2.2), and up to four
// empty lines before the request line are skipped (they count in Len).
// Refused with 400 Bad Request are: control characters (HTAB aside) and bare
// CR anywhere (RFC 9112 section 2.2); a request line that is not exactly
// method SP request-target SP HTTP-version with a token method and a
// non-empty target free of whitespace (RFC 9112 section 3), or with a
// version other than HTTP/1.0 or HTTP/1.1 (HTTP/2 and later: 505, RFC 9110
// section 15.6.6); a field line that starts with whitespace (obs-fold, RFC
// 9112 section 5.2), has a non-token name or whitespace before the colon
// (RFC 9112 section 5.1); more than [MaxHeaders] field lines; an HTTP/1.1
// head without Host, or any head with more than one Host or an invalid Host
// value (RFC 9112 section 3.2).
func Parse(buf []byte, h *Head) error {
	h.reset()
	return h.parse(buf)
}

// reset prepares h for a new head. The fields array is not cleared: only its
// first nfields entries are ever read.
func (h *Head) reset() {
	h.buf = nil
	h.method, h.target, h.proto = span{}, span{}, span{}
	h.minor = 0
	h.state, h.empties, h.hosts = stateRequestLine, 0, 0
	h.length, h.line, h.scan = 0, 0, 0
	h.nfields = 0
}

// parse continues parsing where the previous call on the same, now possibly
// longer, buffer stopped: each byte is scanned for the line end once and
// each complete line is parsed once. Control characters are refused as soon
// as they arrive, without waiting for the end of the line, so that e.g. a
// TLS ClientHello on a plain-text port is refused at once.
func (h *Head) parse(buf []byte) error {
	if len(buf) > maxBuf {
		buf = buf[:maxBuf]
	}
	h.buf = buf
	for h.state != stateDone {
		i := h.scan
		for i < len(buf) && lineByte[buf[i]] {
			i++
		}
		if i == len(buf) {
			h.scan = i
			return ErrIncomplete
		}
		end := i // end of the line's content, before CR LF or LF
		switch buf[i] {
		case '\n':
		case '\r':
			if i+1 == len(buf) {
				h.scan = i // look at this CR again when more bytes arrive
				return ErrIncomplete
			}
			if buf[i+1] != '\n' {
				// RFC 9112 section 2.2: a bare CR MUST be treated as
				// invalid or replaced by SP; replacing would alter the
				// bytes tether replays, so refuse.
				return errBareCR
			}
			i++
		default:
			// RFC 9110 section 5.5 and RFC 9112 section 3: no CTL
			// (including NUL and DEL) in field values or the request line.
			return errCTL
		}
		next := i + 1
		line := buf[h.line:end]
		var err error
		switch {
		case h.state == stateRequestLine && len(line) == 0:
			h.empties++
			if h.empties > maxLeadingEmptyLines {
				err = errEmptyLines
			}
		case h.state == stateRequestLine:
			err = h.requestLine(line, h.line)
			h.state = stateFields
		case len(line) == 0:
			h.state = stateDone
			h.length = next
			// RFC 9112 section 3.2: a server MUST respond with 400 to any
			// HTTP/1.1 request message that lacks a Host header field.
			if h.minor == 1 && h.hosts == 0 {
				err = errNoHost
			}
		default:
			err = h.field(line, h.line)
		}
		if err != nil {
			return err
		}
		h.line, h.scan = next, next
	}
	return nil
}

// requestLine parses line, which starts at offset base of the buffer.
//
// RFC 9112 section 3: request-line = method SP request-target SP HTTP-version
// with method = token. A single SP separates the parts; other whitespace is
// refused (nginx, too, refuses HTAB there).
func (h *Head) requestLine(line []byte, base int) error {
	i := 0
	for i < len(line) && tchar[line[i]] {
		i++
	}
	switch {
	case i == 0:
		return errMethod
	case i == len(line) || line[i] == '\t':
		return errRequestLine
	case line[i] != ' ':
		return errMethod
	}
	h.method = mkspan(base, base+i)

	t := i + 1
	j := t
	for j < len(line) && line[j] != ' ' && line[j] != '\t' {
		j++
	}
	switch {
	case j == t:
		return errEmptyTarget // also two SP after the method
	case j == len(line):
		return errNoVersion // "GET /" is an HTTP/0.9 simple-request
	case line[j] == '\t':
		return errTargetChar
	}
	h.target = mkspan(base+t, base+j)

	minor, err := version(line[j+1:])
	if err != nil {
		return err
	}
	h.minor = minor
	h.proto = mkspan(base+j+1, base+len(line))
	return nil
}

// version parses the HTTP-version of the request line.
//
// RFC 9112 section 2.3: HTTP-version = HTTP-name "/" DIGIT "." DIGIT, with
// HTTP-name = %s"HTTP" (case-sensitive). A major version of 2 or more (e.g.
// the HTTP/2 connection preface "PRI * HTTP/2.0") gets 505 (RFC 9110
// section 15.6.6); HTTP/0.x and HTTP/1.2 and later minor versions get 400.
func version(v []byte) (minor uint8, err error) {
	if len(v) < 6 || string(v[:5]) != "HTTP/" || !isDigit(v[5]) {
		return 0, errRequestLine
	}
	if v[5] >= '2' {
		return 0, errVersionMajor
	}
	if len(v) != 8 || v[6] != '.' || !isDigit(v[7]) {
		return 0, errRequestLine
	}
	if v[5] != '1' || v[7] > '1' {
		return 0, errVersion
	}
	return v[7] - '0', nil
}

// field parses a header field line, which starts at offset base of the
// buffer.
//
// RFC 9112 section 5: field-line = field-name ":" OWS field-value OWS.
func (h *Head) field(line []byte, base int) error {
	if isOWS(line[0]) {
		if h.nfields == 0 {
			// RFC 9112 section 2.2: whitespace between the start-line and
			// the first header field MUST be rejected or the line ignored;
			// ignoring would desync us from the backend, so reject.
			return errLeadingWS
		}
		// RFC 9112 section 5.2: a server receiving obs-fold in a request
		// MUST reject it with 400 or replace it; tether replays, so reject.
		return errObsFold
	}
	i := 0
	for i < len(line) && tchar[line[i]] {
		i++
	}
	switch {
	case i == len(line):
		return errNoColon
	case isOWS(line[i]):
		// RFC 9112 section 5.1: no whitespace is allowed between the field
		// name and colon; a server MUST reject such a request with 400.
		if bytes.IndexByte(trimOWS(line[i:]), ':') == 0 {
			return errSpaceColon
		}
		return errNoColon
	case line[i] != ':' || i == 0:
		return errFieldName
	}
	if h.nfields == MaxHeaders {
		return errTooMany
	}
	vs, ve := i+1, len(line)
	for vs < ve && isOWS(line[vs]) {
		vs++
	}
	for ve > vs && isOWS(line[ve-1]) {
		ve--
	}
	value := line[vs:ve]
	f := &h.fields[h.nfields]
	f.name = mkspan(base, base+i)
	f.value = mkspan(base+vs, base+ve)
	h.nfields++

	if i == 4 && equalFold(line[:4], "host") {
		// RFC 9112 section 3.2: 400 for more than one Host field line or
		// an invalid Host value (nginx: ngx_http_process_host, which also
		// refuses a duplicate Host).
		h.hosts++
		if h.hosts > 1 {
			return errMultipleHost
		}
		if !validHost(value) {
			return errInvalidHost
		}
	}
	return nil
}

// validHost reports whether v is a valid Host field value.
//
// RFC 9110 section 7.2: Host = uri-host [ ":" port ], with uri-host from
// RFC 3986 section 3.2.2 (IP-literal / IPv4address / reg-name) and
// port = *DIGIT. An empty value is allowed (RFC 9112 section 3.2: sent when
// the target URI has no authority). Percent-encodings are not checked.
func validHost(v []byte) bool {
	if len(v) == 0 {
		return true
	}
	host := v
	if v[0] == '[' {
		k := bytes.IndexByte(v, ']')
		if k < 2 {
			return false
		}
		for _, c := range v[1:k] {
			if !hostByte[c] && c != ':' {
				return false
			}
		}
		rest := v[k+1:]
		return len(rest) == 0 || rest[0] == ':' && allDigits(rest[1:])
	}
	if c := bytes.LastIndexByte(v, ':'); c >= 0 {
		if !allDigits(v[c+1:]) {
			return false
		}
		host = v[:c]
	}
	for _, c := range host {
		if !hostByte[c] {
			return false
		}
	}
	return true
}

func allDigits(b []byte) bool {
	for _, c := range b {
		if !isDigit(c) {
			return false
		}
	}
	return true
}

func mkspan(off, end int) span { return span{uint32(off), uint32(end)} }
