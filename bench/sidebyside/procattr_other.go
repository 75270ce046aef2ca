//go:build !linux

package main

import "syscall"

// childProcAttr puts a child in its own process group, killed as a group.
func childProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
