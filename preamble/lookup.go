package preamble

import "bytes"

// Header returns the value of the first header field line named name
// (compared case-insensitively, RFC 9110 section 5.1) with leading and
// trailing OWS removed, or nil if there is none. A present but empty field
// yields an empty, non-nil slice.
func (h *Head) Header(name string) []byte {
	for i := 0; i < h.nfields; i++ {
		f := &h.fields[i]
		if equalFold(h.bytes(f.name), name) {
			return h.bytes(f.value)
		}
	}
	return nil
}

// count returns how many header field lines are named name.
func (h *Head) count(name string) int {
	n := 0
	for i := 0; i < h.nfields; i++ {
		if equalFold(h.bytes(h.fields[i].name), name) {
			n++
		}
	}
	return n
}

// HasToken reports whether the comma-separated list header name contains
// token, compared case-insensitively, e.g. HasToken("Connection", "upgrade")
// for "Connection: keep-alive, Upgrade". All field lines named name are one
// list (RFC 9110 section 5.3); empty list elements are skipped (RFC 9110
// section 5.6.1).
func (h *Head) HasToken(name, token string) bool {
	for i := 0; i < h.nfields; i++ {
		f := &h.fields[i]
		if !equalFold(h.bytes(f.name), name) {
			continue
		}
		v := h.bytes(f.value)
		for len(v) > 0 {
			var elem []byte
			if k := bytes.IndexByte(v, ','); k >= 0 {
				elem, v = v[:k], v[k+1:]
			} else {
				elem, v = v, nil
			}
			if equalFold(trimOWS(elem), token) {
				return true
			}
		}
	}
	return false
}

// Cookie returns the value of the first cookie named name in the Cookie
// header field lines, read exactly as nginx reads $cookie_NAME (so that a
// hash on it matches nginx's), or nil if there is none:
//   - pairs are separated by ";" or ",", and spaces after a separator are
//     skipped;
//   - the name is compared ASCII case-insensitively;
//   - spaces between the name and "=" and after "=" are skipped;
//   - the value runs to the next ";", raw: a "," or trailing spaces are part
//     of it, surrounding double quotes are kept.
//
// A pair without "=" does not match.
func (h *Head) Cookie(name string) []byte {
	if name == "" {
		return nil
	}
	for i := 0; i < h.nfields; i++ {
		f := &h.fields[i]
		if !equalFold(h.bytes(f.name), "Cookie") {
			continue
		}
		v := h.bytes(f.value)
		for p := 0; p < len(v); {
			if len(v)-p >= len(name) && equalFold(v[p:p+len(name)], name) {
				j := skipSpaces(v, p+len(name))
				if j < len(v) && v[j] == '=' {
					j = skipSpaces(v, j+1)
					end := j
					for end < len(v) && v[end] != ';' {
						end++
					}
					return v[j:end:end]
				}
			}
			for p < len(v) { // on to the next pair
				c := v[p]
				p++
				if c == ';' || c == ',' {
					break
				}
			}
			p = skipSpaces(v, p)
		}
	}
	return nil
}

// skipSpaces returns the index of the first byte of b at or after i that is
// not a space (the end of b if there is none).
func skipSpaces(b []byte, i int) int {
	for i < len(b) && b[i] == ' ' {
		i++
	}
	return i
}

// Query returns the raw, not percent-decoded value of the first parameter
// named name in the query of the request-target, read exactly as nginx reads
// $arg_NAME, or nil if there is none: the query is everything after the first
// "?"; the name is compared ASCII case-insensitively and must start the
// query or follow a "&", and be followed by "="; the value runs to the next
// "&". A parameter without "=" does not match.
func (h *Head) Query(name string) []byte {
	t := h.Target()
	q := bytes.IndexByte(t, '?')
	if q < 0 || name == "" {
		return nil
	}
	args := t[q+1:]
	for p := 0; p+len(name) < len(args); p++ {
		if !equalFold(args[p:p+len(name)], name) || p > 0 && args[p-1] != '&' || args[p+len(name)] != '=' {
			continue
		}
		start := p + len(name) + 1
		end := start + bytes.IndexByte(args[start:], '&')
		if end < start {
			end = len(args)
		}
		return args[start:end:end]
	}
	return nil
}
