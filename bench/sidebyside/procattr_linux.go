package main

import "syscall"

// childProcAttr puts a child in its own process group (killed as a group) and has the kernel
// kill it if the harness dies without cleaning up.
func childProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
