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
			// nginx answers an oversized head with 400 as well
			// (ngx_http_alloc_large_header_buffer).
			return n, errTooLarge
		}
		k, rerr := r.Read(buf[n:])
		if k < 0 || k > len(buf)-n {
			return n, fmt.Errorf("read request head: reader returned invalid count %d", k)
		}
		n += k
		if k > 0 {
			empty = 0
			switch perr := h.parse(buf[:n]); perr {
			case nil:
				return n, Check(h, m)
			case ErrIncomplete:
			default:
				return n, perr
			}
		}
		switch {
		case rerr == nil:
			if k == 0 {
				if empty++; empty >= maxEmptyReads {
					return n, fmt.Errorf("read request head: %w", io.ErrNoProgress)
				}
			}
		case isTimeout(rerr):
			return n, errTimeout
		case errors.Is(rerr, io.EOF) && n == 0:
			return 0, io.EOF
		case errors.Is(rerr, io.EOF) || errors.Is(rerr, io.ErrUnexpectedEOF):
			return n, errTruncated
		default:
			return n, fmt.Errorf("read request head: %w", rerr)
		}
	}
}

// isTimeout reports whether err is a read deadline expiring, as net.Conn
// and crypto/tls.Conn report it.
func isTimeout(err error) bool {
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return true
	}
	var t interface{ Timeout() bool }
	return errors.As(err, &t) && t.Timeout()
}
