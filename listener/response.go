package listener

import (
	"context"
	"net"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// awaitResponse waits up to d for the backend to answer the request head (its first byte, or
// its close), without reading: the engine forwards that byte like any other. It returns an
// error wrapping os.ErrDeadlineExceeded when d passed, or when ctx ended the wait first.
func awaitResponse(ctx context.Context, backend net.Conn, d time.Duration) error {
	sc, ok := backend.(syscall.Conn)
	if !ok {
		return nil // nothing to peek at (not a socket)
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return err
	}
	backend.SetReadDeadline(time.Now().Add(d))
	defer backend.SetReadDeadline(time.Time{})
	stop := context.AfterFunc(ctx, func() { backend.SetReadDeadline(aLongTimeAgo) })
	defer stop()
	var one [1]byte
	return rc.Read(func(fd uintptr) bool {
		_, _, err := unix.Recvfrom(int(fd), one[:], unix.MSG_PEEK|unix.MSG_DONTWAIT)
		return err != unix.EAGAIN // bytes, the end of the stream or an error: the tunnel sees it
	})
}
