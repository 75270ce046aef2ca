package wsframe

import "encoding/binary"

// CloseGoingAway is the close code of an endpoint that is going away
// (RFC 6455 section 7.4.1: "such as a server going down").
const CloseGoingAway = 1001

// maxCloseReason is the longest reason a close frame carries: a control
// payload is at most 125 bytes, 2 of them the code (RFC 6455 section 5.5.1).
const maxCloseReason = maxControlPayload - 2

// AppendClose appends a close frame with code and reason (cut to 123 bytes)
// to dst. A frame to a server is masked with key (RFC 6455 section 5.3),
// one to a client is not.
func AppendClose(dst []byte, code uint16, reason string, toServer bool, key [4]byte) []byte {
	if len(reason) > maxCloseReason {
		reason = reason[:maxCloseReason]
	}
	n := 2 + len(reason)
	b1 := byte(n)
	if toServer {
		b1 |= bitMASK
	}
	dst = append(dst, bitFIN|opClose, b1)
	if toServer {
		dst = append(dst, key[:]...)
	}
	start := len(dst)
	dst = binary.BigEndian.AppendUint16(dst, code)
	dst = append(dst, reason...)
	if toServer {
		for i := range dst[start:] {
			dst[start+i] ^= key[i&3]
		}
	}
	return dst
}
