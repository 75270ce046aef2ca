package websocket

import (
	"encoding/binary"
	"errors"
	"fmt"
	"unicode/utf8"
)

// Close status codes (RFC 6455 section 7.4.1, IANA registry of section 11.7).
const (
	CloseNormal             uint16 = 1000 // normal closure
	CloseGoingAway          uint16 = 1001 // endpoint going away
	CloseProtocolError      uint16 = 1002 // protocol error
	CloseUnsupportedData    uint16 = 1003 // data type cannot be accepted
	CloseNoStatus           uint16 = 1005 // no status code in the close frame; never sent
	CloseAbnormal           uint16 = 1006 // connection lost without a close frame; never sent
	CloseInvalidPayload     uint16 = 1007 // message data inconsistent with its type (e.g. bad UTF-8)
	ClosePolicyViolation    uint16 = 1008 // policy violation
	CloseMessageTooBig      uint16 = 1009 // message too big to process
	CloseMandatoryExtension uint16 = 1010 // client expected an extension the server did not negotiate
	CloseInternalError      uint16 = 1011 // server hit an unexpected condition
	CloseTLSHandshake       uint16 = 1015 // TLS handshake failure; never sent
)

// maxCloseReason is the longest reason that fits a control frame next to the
// 2-byte status code (RFC 6455 sections 5.5 and 5.5.1).
const maxCloseReason = maxControlPayload - 2

// CloseError describes a close status code and reason. ReadMessage returns a
// *CloseError when this endpoint failed the connection (RFC 6455 section
// 7.1.7); Code and Reason are then what was sent to the peer.
type CloseError struct {
	Code   uint16 // close status code (RFC 6455 section 7.4)
	Reason string // human-readable reason, possibly empty
}

// Error implements error.
func (e *CloseError) Error() string {
	if e.Reason == "" {
		return fmt.Sprintf("websocket: close %d", e.Code)
	}
	return fmt.Sprintf("websocket: close %d: %s", e.Code, e.Reason)
}

var _ error = (*CloseError)(nil)

// validCloseCode reports whether code may appear in a close frame, both when
// sending and when receiving (RFC 6455 section 7.4): 1000-1003 and 1007-1011
// are defined by the RFC, 1012-1014 were registered with IANA later (section
// 11.7 registry), 3000-4999 are for libraries, frameworks and applications.
// 1004 is reserved, and 1005, 1006 and 1015 "MUST NOT be set as a status
// code in a Close control frame" (section 7.4.1). Everything else below 3000
// is reserved and 5000 and above are undefined.
func validCloseCode(code uint16) bool {
	switch {
	case code >= 1000 && code <= 1003:
		return true
	case code >= 1007 && code <= 1014:
		return true
	case code >= 3000 && code <= 4999:
		return true
	}
	return false
}

// errBadCloseCode reports an attempt to send an invalid close frame.
var errBadCloseCode = errors.New("websocket: invalid close code or reason")

// checkSendClose validates a close frame this endpoint is about to send.
func checkSendClose(code uint16, reason string) error {
	if !validCloseCode(code) {
		return fmt.Errorf("%w: code %d may not be sent (RFC 6455 section 7.4)", errBadCloseCode, code)
	}
	if len(reason) > maxCloseReason {
		return fmt.Errorf("%w: reason is %d bytes, at most %d fit a control frame", errBadCloseCode, len(reason), maxCloseReason)
	}
	if !utf8.ValidString(reason) {
		return fmt.Errorf("%w: reason is not UTF-8 (RFC 6455 section 5.5.1)", errBadCloseCode)
	}
	return nil
}

// appendClosePayload appends the body of a close frame: the status code in
// network byte order followed by the UTF-8 reason (RFC 6455 section 5.5.1).
// CloseNoStatus yields an empty body.
func appendClosePayload(dst []byte, code uint16, reason string) []byte {
	if code == CloseNoStatus {
		return dst
	}
	dst = binary.BigEndian.AppendUint16(dst, code)
	return append(dst, reason...)
}

// parseClosePayload decodes a received close frame body (RFC 6455 section
// 5.5.1). An empty body means CloseNoStatus (section 7.1.5). A one-byte body
// or an invalid code is a protocol error (section 7.4); a reason that is not
// UTF-8 is CloseInvalidPayload (section 8.1).
func parseClosePayload(p []byte) (code uint16, reason string, err *CloseError) {
	switch {
	case len(p) == 0:
		return CloseNoStatus, "", nil
	case len(p) == 1:
		return 0, "", &CloseError{Code: CloseProtocolError, Reason: "1-byte close payload"}
	}
	code = binary.BigEndian.Uint16(p)
	if !validCloseCode(code) {
		return 0, "", &CloseError{Code: CloseProtocolError, Reason: fmt.Sprintf("invalid close code %d", code)}
	}
	if !utf8.Valid(p[2:]) {
		return 0, "", &CloseError{Code: CloseInvalidPayload, Reason: "close reason is not UTF-8"}
	}
	return code, string(p[2:]), nil
}
