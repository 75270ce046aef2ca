package splice

import (
	"crypto/rand"

	"github.com/tether-proxy/tether/wsframe"
)

// Phases of a polite WebSocket ending, in the driven and the stream tunnel.
const (
	endNone     uint8 = iota
	endBoundary       // each direction forwards to the end of its message, then reads its source only for a close frame
	endReplies        // close frames sent both ways: waiting for the peers' close frames
)

// Close reasons sent with code 1001.
const (
	closeReasonIdle  = "idle timeout"
	closeReasonGoing = "going away"
)

// maxCloseFrame is the size of the largest close frame tether sends: a 2-byte header, a
// masking key, the code and the longest reason.
const maxCloseFrame = 2 + 4 + 2 + len(closeReasonGoing)

// appendCloseFrame appends tether's close frame 1001 for an ending for r: masked with a fresh
// random key toward the server (RFC 6455 section 5.3), unmasked toward the client.
func appendCloseFrame(dst []byte, r Reason, toServer bool) []byte {
	reason := closeReasonGoing
	if r == IdleTimeout {
		reason = closeReasonIdle
	}
	var key [4]byte
	if toServer {
		_, _ = rand.Read(key[:])
	}
	return wsframe.AppendClose(dst, wsframe.CloseGoingAway, reason, toServer, key)
}
