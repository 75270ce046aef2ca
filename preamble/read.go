package preamble

import (
	"errors"
	"fmt"
	"io"
	"os"
)

// maxEmptyReads is how many consecutive (0, nil) reads Read tolerates before
// giving up with io.ErrNoProgress, as bufio does.
const maxEmptyReads = 100

// Read reads a request head from r into buf, parses it into h and applies
// [Check] with mode m. It returns n, the number of bytes read into buf:
// n >= h.Len(), and the bytes after the head (an early WebSocket frame, a
// request body) are part of buf[:n] and must be replayed too. Each read
// byte is scanned once; reading stops as soon as the head is complete.
//
// The caller bounds the head's size with len(buf) and its time with the
// connection's read deadline. Errors:
//   - a malformed head, or one that Check refuses: its [*Reject];
//   - buf full without a complete head: *Reject 400 "request head too large";
//   - a timeout (os.ErrDeadlineExceeded or any error with a true Timeout
//     method): *Reject 408;
//   - io.EOF before any byte: io.EOF itself, unwrapped, so that callers can
//     tell a client that closed without sending a request;
//   - io.EOF after some bytes but before the end of the head: *Reject 400;
//   - any other read error, wrapped: "read request head: %w".
//
// When a complete head arrives together with a read error, the head wins
// and the error is left for the caller's next read.
func Read(r io.Reader, buf []byte, h *Head, m Mode) (n int, err error) {
	h.reset()
	if len(buf) > maxBuf {
		buf = buf[:maxBuf]
	}
	empty := 0
	for {
		if n == len(buf) {
			return n, errTooLarge
		}
		k, rerr := r.Read(buf[n:])
		if k < 0 || k > len(buf)-n {
			return n, fmt.Errorf("read request head: reader returned invalid count %d", k)
		}
		n += k
		if k == 0 && rerr == nil {
			if empty++; empty >= maxEmptyReads {
				return n, fmt.Errorf("read request head: %w", io.ErrNoProgress)
			}
			continue
		}
		empty = 0
		if done, err := Step(buf, n, k, rerr, h, m); done {
			return n, err
		}
	}
}

// Step advances the reading of a head by the outcome of one read, for Read and for callers
// that read without blocking (an event loop): buf[:n] holds every byte read so far, the last
// k of them new; rerr is that read's error. h must be Reset before the first step. Step
// reports done once the outcome is known, with Read's errors: nil for a complete head that
// passes Check (the bytes after it, up to n, must be replayed too), or why it is refused.
// Not done means: read more into buf[n:] (and a caller whose buf is full refuses with
// ErrTooLarge). A reader that would block must not call Step; its timer's expiry is
// ErrTimedOut.
func Step(buf []byte, n, k int, rerr error, h *Head, m Mode) (done bool, err error) {
	if k > 0 {
		switch perr := h.parse(buf[:n]); perr {
		case nil:
			return true, Check(h, m)
		case ErrIncomplete:
		default:
			return true, perr
		}
	}
	switch {
	case rerr == nil:
		if n >= len(buf) || n >= maxBuf {
			// nginx answers an oversized head with 400 as well
			// (ngx_http_alloc_large_header_buffer).
			return true, errTooLarge
		}
		return false, nil
	case isTimeout(rerr):
		return true, errTimeout
	case errors.Is(rerr, io.EOF) && n == 0:
		return true, io.EOF
	case errors.Is(rerr, io.EOF) || errors.Is(rerr, io.ErrUnexpectedEOF):
		return true, errTruncated
	default:
		return true, fmt.Errorf("read request head: %w", rerr)
	}
}

// Reset prepares h for reading a new head with Step.
func (h *Head) Reset() { h.reset() }

// ErrTimedOut is the refusal of a head that did not arrive in time (408), for callers that
// time the read themselves.
var ErrTimedOut error = errTimeout

// isTimeout reports whether err is a read deadline expiring, as net.Conn
// and crypto/tls.Conn report it.
func isTimeout(err error) bool {
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return true
	}
	var t interface{ Timeout() bool }
	return errors.As(err, &t) && t.Timeout()
}
