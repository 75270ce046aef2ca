//go:build linux

package splice

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// spliceFlags: the sockets are already non-blocking (netpoller); NONBLOCK
// makes the pipe side non-blocking too. SPLICE_F_MORE measured no gain.
const spliceFlags = unix.SPLICE_F_NONBLOCK | unix.SPLICE_F_MOVE

// peek is recv(fd, &b, 1, MSG_PEEK|MSG_DONTWAIT) into a stack byte.
// (unix.Recvfrom would heap-allocate its sockaddr on every call.)
func peek(fd int) (int, error) {
	var b byte
	n, _, errno := unix.Syscall6(unix.SYS_RECVFROM, uintptr(fd), uintptr(unsafe.Pointer(&b)), 1,
		unix.MSG_PEEK|unix.MSG_DONTWAIT, 0, 0)
	if errno != 0 {
		return 0, errno
	}
	return int(n), nil
}
