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
// header field lines, or nil if there is none. Cookie pairs are separated by
// ";" (RFC 6265 section 4.2.1); names are compared case-sensitively and the
// value is returned raw, surrounding double quotes included, with OWS
// trimmed. A pair without "=" is skipped.
func (h *Head) Cookie(name string) []byte {
	for i := 0; i < h.nfields; i++ {
		f := &h.fields[i]
		if !equalFold(h.bytes(f.name), "Cookie") {
			continue
		}
		v := h.bytes(f.value)
		for len(v) > 0 {
			var pair []byte
			if k := bytes.IndexByte(v, ';'); k >= 0 {
				pair, v = v[:k], v[k+1:]
			} else {
				pair, v = v, nil
			}
			eq := bytes.IndexByte(pair, '=')
			if eq >= 0 && string(trimOWS(pair[:eq])) == name {
				return trimOWS(pair[eq+1:])
			}
		}
	}
	return nil
}

// Query returns the raw, not percent-decoded value of the first parameter
// named name in the query of the request-target, or nil if there is none.
// The query is the part after the first "?" up to any "#"; parameters are
// separated by "&" and the name is compared raw and case-sensitively
// (as in the WHATWG URL application/x-www-form-urlencoded parser, before
// decoding); empty parameters are skipped. A parameter without "=" has an
// empty, non-nil value.
func (h *Head) Query(name string) []byte {
	t := h.Target()
	q := bytes.IndexByte(t, '?')
	if q < 0 {
		return nil
	}
	t = t[q+1:]
	if k := bytes.IndexByte(t, '#'); k >= 0 {
		t = t[:k]
	}
	for len(t) > 0 {
		var param []byte
		if k := bytes.IndexByte(t, '&'); k >= 0 {
			param, t = t[:k], t[k+1:]
		} else {
			param, t = t, nil
		}
		if len(param) == 0 {
			continue
		}
		key, value := param, param[len(param):]
		if eq := bytes.IndexByte(param, '='); eq >= 0 {
			key, value = param[:eq], param[eq+1:]
		}
		if string(key) == name {
			return value
		}
	}
	return nil
}
