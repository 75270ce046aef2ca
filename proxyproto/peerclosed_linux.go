package proxyproto

import "golang.org/x/sys/unix"

// PeerClosed reports whether the peer of socket fd shut down its sending side: then no more
// bytes will come and the ones peeked are all there is (for callers that peek at a header).
func PeerClosed(fd uintptr) bool {
	p := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLRDHUP}}
	n, err := unix.Poll(p, 0)
	return err == nil && n > 0 && p[0].Revents&(unix.POLLRDHUP|unix.POLLHUP) != 0
}
