// Package wsframe follows the frame boundaries of a WebSocket byte stream
// (RFC 6455 section 5.2) from the frame headers alone, so that a proxy that
// forwards the stream untouched knows where messages end: [Tracker] is a
// small, allocation-free state machine fed the bytes a proxy reads, told
// how many bytes bypassed it ([Tracker.Skip], for payload moved by
// splice(2)), and asked how far the current frame goes
// ([Tracker.SpliceLimit], [Tracker.Need]) and whether the stream stands
// between two messages ([Tracker.AtBoundary]).
//
// A server's tracker first reads the HTTP response head: only "101" followed
// by the end of the head makes it track frames; anything else turns it
// [Off] for good (the connection did not upgrade).
//
// It never rejects bytes: framing a receiver would refuse (a reserved
// opcode, a 64-bit length with its high bit set, a fragmented or oversized
// control frame, a masked frame from the server or an unmasked one from the
// client, a continuation without a message or a new message inside a
// fragmented one) only makes it [Bad]: it stops tracking and reports why.
// The reserved bits are not checked: an extension (permessage-deflate,
// RFC 7692) may use them.
//
// [AppendClose] builds the close frames a proxy sends when it ends a
// tunnel itself.
package wsframe
