package splice

import (
	"fmt"
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
}
