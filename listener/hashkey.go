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
		v = h.Header(k.Name)
		switch k.Hop {
		case conf.HopFirst:
			if i := bytes.IndexByte(v, ','); i >= 0 {
				v = v[:i]
			}
		case conf.HopLast:
			if i := bytes.LastIndexByte(v, ','); i >= 0 {
				v = v[i+1:]
			}
		}
		v = bytes.TrimSpace(v)
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
