package tlsterm

import "golang.org/x/sys/unix"

// queuedBytes is how many bytes wait in fd's receive queue (SIOCINQ).
func queuedBytes(fd int) int {
	n, err := unix.IoctlGetInt(fd, unix.SIOCINQ)
	if err != nil {
		return 1 << 30 // unknown: let the handshake proceed
	}
	return n
}
