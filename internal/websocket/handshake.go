package websocket

import (
	"crypto/sha1"
	"encoding/base64"
	"errors"
	"net/http"
	"strings"
)

// acceptGUID is the fixed GUID of RFC 6455 section 1.3, appended to the
// client's key to derive Sec-WebSocket-Accept.
const acceptGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

// supportedVersion is the only protocol version RFC 6455 defines
// (section 4.1, item 9; section 4.4).
const supportedVersion = "13"

// ErrBadHandshake is wrapped by every opening-handshake failure of Upgrade
// and Client.
var ErrBadHandshake = errors.New("websocket: bad handshake")

// computeAccept derives Sec-WebSocket-Accept from Sec-WebSocket-Key:
// base64(SHA-1(key + GUID)) (RFC 6455 sections 1.3 and 4.2.2, item 5.4).
func computeAccept(key string) string {
	h := sha1.New()
	h.Write([]byte(key))
	h.Write([]byte(acceptGUID))
	return base64.StdEncoding.EncodeToString(h.Sum(nil))
}

// validKey reports whether key is a valid Sec-WebSocket-Key: the base64
// encoding of 16 bytes (RFC 6455 section 4.1, item 7).
func validKey(key string) bool {
	if len(key) != 24 {
		return false
	}
	b, err := base64.StdEncoding.DecodeString(key)
	return err == nil && len(b) == 16
}

// headerHasToken reports whether the comma-separated values of header name
// contain token, compared case-insensitively (RFC 6455 section 4.2.1 items 3
// and 4 treat Upgrade and Connection this way; RFC 9110 section 5.6.1 lists).
func headerHasToken(h http.Header, name, token string) bool {
	for _, v := range h.Values(name) {
		for t := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.Trim(t, " \t"), token) {
				return true
			}
		}
	}
	return false
}

// isToken reports whether s is a non-empty HTTP token (RFC 9110 section
// 5.6.2), as header names must be.
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}
