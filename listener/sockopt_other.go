//go:build !linux

package listener

import (
	"net"
	"syscall"
)

// setIPv6Only is a no-op off Linux: the platform default applies.
func setIPv6Only(syscall.RawConn, bool) error { return nil }

// setReusePort is a no-op off Linux.
func setReusePort(syscall.RawConn) error { return nil }

// keepAliveInherited is false off Linux: acceptLoop sets keepAlive on every accepted conn.
const keepAliveInherited = false

func setListenerKeepAlive(syscall.RawConn, net.KeepAliveConfig) error { return nil }
