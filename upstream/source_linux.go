package upstream

import (
	"syscall"

	sysunix "golang.org/x/sys/unix"
)

// bindAddressNoPort sets IP_BIND_ADDRESS_NO_PORT on a socket about to be bound to a source
// address (it applies to IPv6 sockets too): the port is chosen at connect, per four-tuple.
func bindAddressNoPort(_, _ string, c syscall.RawConn) error {
	var serr error
	err := c.Control(func(fd uintptr) {
		serr = sysunix.SetsockoptInt(int(fd), sysunix.IPPROTO_IP, sysunix.IP_BIND_ADDRESS_NO_PORT, 1)
	})
	if err != nil {
		return err
	}
	return serr
}
