package proxyproto

import "golang.org/x/sys/unix"

// peerClosed reports whether the peer shut down its sending side: then no more bytes will come
// and the ones peeked are all there is.
func peerClosed(fd uintptr) bool {
	p := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLRDHUP}}
	n, err := unix.Poll(p, 0)
	return err == nil && n > 0 && p[0].Revents&(unix.POLLRDHUP|unix.POLLHUP) != 0
}
