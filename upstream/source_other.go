//go:build !linux

package upstream

import "syscall"

// bindAddressNoPort does nothing off Linux: bind reserves a port of the source address.
func bindAddressNoPort(_, _ string, _ syscall.RawConn) error { return nil }
