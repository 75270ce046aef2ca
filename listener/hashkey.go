package listener

import (
	"bytes"

	"github.com/tether-proxy/tether/conf"
	"github.com/tether-proxy/tether/preamble"
)

// stickyKey returns the hash key configured by hash_key from the request head, or nil when the
// request has none (the caller then hashes the client address, as documented).
func stickyKey(k conf.HashKey, h *preamble.Head) []byte {
	var v []byte
	switch k.Kind {
	case conf.KeyHeader:
		v = headerKey(h, k.Name, k.Hop)
	case conf.KeyCookie:
		v = h.Cookie(k.Name)
	case conf.KeyQuery:
		v = h.Query(k.Name)
	}
	if len(v) == 0 {
		return nil
	}
	return v
}

// joinedHeaders are the headers whose field lines nginx 1.22 joins for $http_NAME, with the
// separator it puts between them; for any other header it takes the first line.
var joinedHeaders = []struct{ name, sep string }{{"X-Forwarded-For", ", "}, {"Cookie", "; "}}

// headerKey reads a header key: the whole value as nginx's $http_NAME has it, or with a hop
// the first element of the list (its first line) or the last (its last line), as RFC 9110
// joins a list header's field lines. Elements are trimmed of spaces.
func headerKey(h *preamble.Head, name string, hop conf.Hop) []byte {
	var first, last []byte
	lines := 0
	for i := range h.NumHeaders() {
		n, v := h.HeaderAt(i)
		if !bytes.EqualFold(n, []byte(name)) {
			continue
		}
		if lines == 0 {
			first = v
		}
		last = v
		lines++
	}
	switch {
	case hop == conf.HopFirst:
		if i := bytes.IndexByte(first, ','); i >= 0 {
			first = first[:i]
		}
		return bytes.TrimSpace(first)
	case hop == conf.HopLast:
		if i := bytes.LastIndexByte(last, ','); i >= 0 {
			last = last[i+1:]
		}
		return bytes.TrimSpace(last)
	case lines > 1:
		for _, j := range joinedHeaders {
			if bytes.EqualFold([]byte(j.name), []byte(name)) {
				return joinLines(h, name, j.sep)
			}
		}
	}
	return bytes.TrimSpace(first)
}

// joinLines returns the values of the field lines named name, joined by sep, in a new slice.
func joinLines(h *preamble.Head, name, sep string) []byte {
	var out []byte
	for i := range h.NumHeaders() {
		if n, v := h.HeaderAt(i); bytes.EqualFold(n, []byte(name)) {
			if out != nil {
				out = append(out, sep...)
			}
			out = append(out, v...)
		}
	}
	return out
}
