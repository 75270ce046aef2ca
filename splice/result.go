package splice

import (
	"fmt"
	"net"
	"time"
)

// Options tune one tunnel. The zero value means no timeouts at all.
type Options struct {
	// Idle closes the tunnel when no byte moved in either direction for this
	// long. Reads that find nothing and writes blocked on a full peer both
	// count as no progress. Zero or negative means no idle timeout.
	Idle time.Duration

	// HalfClose bounds how long the other direction may continue after the
	// first direction finished (EOF propagated with CloseWrite). Zero or
	// negative means unbounded (Idle still applies).
	HalfClose time.Duration

	// WebSocket says that the client asked to upgrade to WebSocket (RFC 6455
	// section 4.1) and sent nothing after its request head. With CloseGrace
	// above zero, the tunnel then follows frame boundaries both ways
	// (wsframe.Tracker) once the backend answered 101, and when the tunnel
	// is ended by Idle or by ctx, it ends politely (see EndingPolite).
	WebSocket bool

	// CloseGrace bounds how long a polite ending waits for the messages in
	// flight to complete; a direction still inside a message then is cut.
	// Zero or negative turns polite endings off (and frame tracking with
	// them).
	CloseGrace time.Duration

	// CloseWait bounds the wait for the peers' close frames once tether sent
	// its own; zero or negative means no wait.
	CloseWait time.Duration

	// BackendKeepAlive is TCP keepalive for the backend socket (nil: leave it
	// as it is). On an event loop it is set once the tunnel has lived
	// keepAliveAfter, so the many short connections never pay its four
	// system calls; on goroutines it is set when the tunnel starts.
	BackendKeepAlive *KeepAlive
}

// KeepAlive is TCP keepalive for a socket: the first probe after Idle without data, then every
// Interval, Count unanswered probes drop the connection. An Idle under a second means none.
type KeepAlive struct {
	Idle, Interval time.Duration
	Count          int
}

// setOn sets k on c when c is a TCP socket (best effort: the tunnel works without).
func (k *KeepAlive) setOn(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok && k != nil && k.Idle >= time.Second {
		_ = tc.SetKeepAliveConfig(net.KeepAliveConfig{Enable: true, Idle: k.Idle, Interval: k.Interval, Count: k.Count})
	}
}

// Ending says how a WebSocket tunnel that tether ended (Idle, or the
// context) went. The zero value, EndingNone, is reported for every other
// tunnel.
type Ending uint8

// Endings.
const (
	// EndingNone: not a WebSocket tunnel tether ended.
	EndingNone Ending = iota
	// EndingPolite: each direction stopped at the first message boundary,
	// the client got a close frame with code 1001 (going away) and the
	// backend a masked one, both written out before TCP was closed.
	EndingPolite
	// EndingCut: tether closed TCP with a message unfinished after
	// CloseGrace, with framing it could not follow, or before its close
	// frames were out.
	EndingCut
)

var _ fmt.Stringer = EndingNone

// String returns how the access log says it: "", "ws 1001" or "cut".
func (e Ending) String() string {
	switch e {
	case EndingNone:
		return ""
	case EndingPolite:
		return "ws 1001"
	case EndingCut:
		return "cut"
	}
	return fmt.Sprintf("Ending(%d)", uint8(e))
}

// Reason says why a tunnel ended. The zero value, ReasonUnknown, is never
// reported by a finished Forward.
type Reason uint8

// Reasons a tunnel ends.
const (
	ReasonUnknown    Reason = iota // not set
	ClientClosed                   // client finished first (EOF), then everything ended normally
	BackendClosed                  // backend finished first (EOF), then everything ended normally
	IdleTimeout                    // Options.Idle passed without progress
	HalfCloseTimeout               // Options.HalfClose passed after the first direction finished
	ClientError                    // read/write error on the client side (e.g. reset)
	BackendError                   // read/write error on the backend side
	Aborted                        // the context passed to Forward was cancelled
)

var reasonNames = [...]string{
	ReasonUnknown:    "unknown",
	ClientClosed:     "client closed",
	BackendClosed:    "backend closed",
	IdleTimeout:      "idle timeout",
	HalfCloseTimeout: "half-close timeout",
	ClientError:      "client error",
	BackendError:     "backend error",
	Aborted:          "aborted",
}

var _ fmt.Stringer = ReasonUnknown

// String returns the lower-case description used in logs and metrics labels,
// e.g. "half-close timeout".
func (r Reason) String() string {
	if int(r) < len(reasonNames) {
		return reasonNames[r]
	}
	return fmt.Sprintf("Reason(%d)", uint8(r))
}

// Result is what happened to one tunnel.
type Result struct {
	// Up and Down count bytes client->backend and backend->client, as
	// written to the destination (accepted by its socket, or by its
	// *tls.Conn as plaintext).
	Up, Down int64

	// Reason says why the tunnel ended.
	Reason Reason

	// Err is the first real error: set for ClientError and BackendError
	// (it wraps the underlying error, so errors.Is(err, syscall.ECONNRESET)
	// works), set to context.Cause for Aborted, nil for clean closes and
	// timeouts.
	Err error

	// Spliced reports that at least one direction moved bytes with splice(2).
	Spliced bool

	// Ending says how a WebSocket tunnel that tether ended went.
	Ending Ending

	// FramingErr is why frame tracking stopped when a peer broke the framing
	// rules (the bytes were forwarded all the same), nil otherwise.
	FramingErr error
}
