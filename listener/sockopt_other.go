//go:build !linux

package listener

import "syscall"

// setIPv6Only is a no-op off Linux: the platform default applies.
func setIPv6Only(syscall.RawConn, bool) error { return nil }

// setReusePort is a no-op off Linux.
func setReusePort(syscall.RawConn) error { return nil }
