//go:build linux

package splice

import (
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The event loop's data-path system calls never block: its sockets and
// pipes are non-blocking and it asks epoll_wait with a zero timeout (it
// parks in the Go netpoller instead). So they are made with RawSyscall,
// without the runtime's entersyscall/exitsyscall: the P stays with the loop
// goroutine, and sysmon, which retakes a P that sits in a system call for
// more than one 20 µs tick, has nothing to retake and backs off to 10 ms
// naps. With syscall.Syscall, a loop busy with short loopback writes kept
// sysmon waking every 20 µs: 16% of tether's CPU at GOMAXPROCS=1 in the
// 64-byte, 32-connection ping-pong of bench/sidebyside.

func errnoOf(e syscall.Errno) error {
	if e == 0 {
		return nil
	}
	return e // small values box without allocating
}

func bufPtr(p []byte) uintptr {
	if len(p) == 0 {
		return 0
	}
	return uintptr(unsafe.Pointer(&p[0]))
}

// rawRead is read(2).
func rawRead(fd int, p []byte) (int, error) {
	n, _, e := unix.RawSyscall(unix.SYS_READ, uintptr(fd), bufPtr(p), uintptr(len(p)))
	if e != 0 {
		return 0, errnoOf(e)
	}
	return int(n), nil
}

// rawWrite is write(2).
func rawWrite(fd int, p []byte) (int, error) {
	n, _, e := unix.RawSyscall(unix.SYS_WRITE, uintptr(fd), bufPtr(p), uintptr(len(p)))
	if e != 0 {
		return 0, errnoOf(e)
	}
	return int(n), nil
}

// rawSplice is splice(2) without offsets.
func rawSplice(rfd, wfd, n int, flags int) (int64, error) {
	m, _, e := unix.RawSyscall6(unix.SYS_SPLICE, uintptr(rfd), 0, uintptr(wfd), 0, uintptr(n), uintptr(flags))
	if e != 0 {
		return 0, errnoOf(e)
	}
	return int64(m), nil
}

// rawEpollWaitNow is epoll_pwait(2) with a zero timeout.
func rawEpollWaitNow(epfd int, events []unix.EpollEvent) (int, error) {
	n, _, e := unix.RawSyscall6(unix.SYS_EPOLL_PWAIT, uintptr(epfd), uintptr(unsafe.Pointer(&events[0])),
		uintptr(len(events)), 0, 0, 0)
	if e != 0 {
		return 0, errnoOf(e)
	}
	return int(n), nil
}

// rawClose is close(2); a socket's close does not block without SO_LINGER.
func rawClose(fd int) error {
	_, _, e := unix.RawSyscall(unix.SYS_CLOSE, uintptr(fd), 0, 0)
	return errnoOf(e)
}

// rawShutdownWrite is shutdown(2) of the write half.
func rawShutdownWrite(fd int) error {
	_, _, e := unix.RawSyscall(unix.SYS_SHUTDOWN, uintptr(fd), unix.SHUT_WR, 0)
	return errnoOf(e)
}

// rawEpollAdd is epoll_ctl(2) EPOLL_CTL_ADD.
func rawEpollAdd(epfd, fd int, ev *unix.EpollEvent) error {
	_, _, e := unix.RawSyscall6(unix.SYS_EPOLL_CTL, uintptr(epfd), unix.EPOLL_CTL_ADD, uintptr(fd),
		uintptr(unsafe.Pointer(ev)), 0, 0)
	return errnoOf(e)
}

// rawPeek is recv(fd, p, MSG_PEEK|MSG_DONTWAIT), retried on EINTR.
func rawPeek(fd int, p []byte) (int, error) {
	for {
		n, _, e := unix.RawSyscall6(unix.SYS_RECVFROM, uintptr(fd), bufPtr(p), uintptr(len(p)),
			unix.MSG_PEEK|unix.MSG_DONTWAIT, 0, 0)
		if e == unix.EINTR {
			continue
		}
		if e != 0 {
			return 0, errnoOf(e)
		}
		return int(n), nil
	}
}
