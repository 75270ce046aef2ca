//go:build unix

package tlsterm

import (
	"errors"
	"fmt"
	"syscall"

	"golang.org/x/sys/unix"
)

// TLS record framing (RFC 8446 §5.1): a 5-byte header, content type first, length last.
const (
	recordHeaderLen  = 5
	recordHandshake  = 0x16
	maxClientHelloIn = 16384 + 2048 // the largest record a handshake may start with (TLSCiphertext bound)
)

// ErrClosedBeforeHello is returned by AwaitClientHello when the client closes without sending
// a ClientHello.
var ErrClosedBeforeHello = errors.New("client closed before its TLS ClientHello")

// AwaitClientHello waits, parked in the Go netpoller and consuming nothing, until the first TLS
// record the client sends has fully arrived in the socket's receive queue, so that a handshake
// started afterwards does not wait on the client. It returns early, leaving the bytes for the
// handshake to reject, when they are not a TLS handshake record. It reads nothing: every byte
// stays queued for crypto/tls. The caller bounds the wait with a read deadline on c.
//
// A connection that never sends its ClientHello (a slowloris, or a port scanner) thus waits
// here without holding a handshake slot, and cannot crowd out clients that are ready.
func AwaitClientHello(c syscall.Conn) error {
	rc, err := c.SyscallConn()
	if err != nil {
		return fmt.Errorf("await ClientHello: %w", err)
	}
	var cbErr error
	err = rc.Read(func(fd uintptr) bool {
		var done bool
		done, cbErr = HelloArrived(int(fd))
		return done
	})
	if err != nil {
		return fmt.Errorf("await ClientHello: %w", err)
	}
	return cbErr
}

// HelloArrived reports whether the first record is complete in the receive queue of socket fd
// (or will never be a ClientHello worth waiting for), reading nothing: AwaitClientHello's test,
// for an event loop that waits itself.
func HelloArrived(fd int) (bool, error) {
	var hdr [recordHeaderLen]byte
	n, _, err := unix.Recvfrom(fd, hdr[:], unix.MSG_PEEK|unix.MSG_DONTWAIT)
	switch {
	case err == unix.EAGAIN || err == unix.EWOULDBLOCK || err == unix.EINTR:
		return false, nil
	case err != nil:
		return true, fmt.Errorf("await ClientHello: %w", err)
	case n == 0:
		return true, ErrClosedBeforeHello
	case hdr[0] != recordHandshake:
		return true, nil // not TLS: the handshake rejects it at once
	case n < recordHeaderLen:
		return false, nil
	}
	size := recordHeaderLen + (int(hdr[3])<<8 | int(hdr[4]))
	if size > recordHeaderLen+maxClientHelloIn {
		return true, nil // oversized: the handshake rejects it at once
	}
	return queuedBytes(fd) >= size, nil
}
