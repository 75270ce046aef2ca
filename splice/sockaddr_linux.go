//go:build linux

package splice

import (
	"net/netip"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The connection setup on the event loop makes its socket calls itself (accept4, socket,
// connect, ...) without the net package, so it converts addresses to and from the kernel's
// sockaddr structures here, on the stack.

// rawSockaddr holds an IPv4 or IPv6 socket address as the kernel reads and writes it.
type rawSockaddr struct {
	raw unix.RawSockaddrAny
	len uint32
}

// set fills sa with ap (a 4-in-6 address stays IPv6).
func (sa *rawSockaddr) set(ap netip.AddrPort) {
	port := ap.Port()
	if a := ap.Addr(); a.Is4() {
		p := (*unix.RawSockaddrInet4)(unsafe.Pointer(&sa.raw))
		*p = unix.RawSockaddrInet4{Family: unix.AF_INET, Addr: a.As4()}
		putPort(&p.Port, port)
		sa.len = unix.SizeofSockaddrInet4
		return
	}
	p := (*unix.RawSockaddrInet6)(unsafe.Pointer(&sa.raw))
	*p = unix.RawSockaddrInet6{Family: unix.AF_INET6, Addr: ap.Addr().As16()}
	putPort(&p.Port, port)
	sa.len = unix.SizeofSockaddrInet6
}

// addrPort returns the address sa holds, or the zero AddrPort for another family.
func (sa *rawSockaddr) addrPort() netip.AddrPort {
	switch sa.raw.Addr.Family {
	case unix.AF_INET:
		p := (*unix.RawSockaddrInet4)(unsafe.Pointer(&sa.raw))
		return netip.AddrPortFrom(netip.AddrFrom4(p.Addr), getPort(&p.Port))
	case unix.AF_INET6:
		p := (*unix.RawSockaddrInet6)(unsafe.Pointer(&sa.raw))
		return netip.AddrPortFrom(netip.AddrFrom16(p.Addr), getPort(&p.Port))
	}
	return netip.AddrPort{}
}

// putPort and getPort write and read a sockaddr's port, which is in network byte order.
func putPort(field *uint16, port uint16) {
	b := (*[2]byte)(unsafe.Pointer(field))
	b[0], b[1] = byte(port>>8), byte(port)
}

func getPort(field *uint16) uint16 {
	b := (*[2]byte)(unsafe.Pointer(field))
	return uint16(b[0])<<8 | uint16(b[1])
}

// rawAccept4 is accept4(2), non-blocking and close-on-exec, filling sa with the peer.
func rawAccept4(fd int, sa *rawSockaddr) (int, error) {
	sa.len = unix.SizeofSockaddrAny
	for {
		nfd, _, e := unix.RawSyscall6(unix.SYS_ACCEPT4, uintptr(fd), uintptr(unsafe.Pointer(&sa.raw)),
			uintptr(unsafe.Pointer(&sa.len)), unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0, 0)
		if e == unix.EINTR {
			continue
		}
		if e != 0 {
			return -1, errnoOf(e)
		}
		return int(nfd), nil
	}
}

// rawSocket is socket(2) for a non-blocking, close-on-exec TCP socket of ap's family.
func rawSocket(ap netip.AddrPort) (int, error) {
	family := unix.AF_INET6
	if ap.Addr().Is4() {
		family = unix.AF_INET
	}
	fd, _, e := unix.RawSyscall(unix.SYS_SOCKET, uintptr(family), unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if e != 0 {
		return -1, errnoOf(e)
	}
	return int(fd), nil
}

// rawSetsockoptInt is setsockopt(2) of an int option.
func rawSetsockoptInt(fd, level, opt, value int) error {
	v := int32(value)
	_, _, e := unix.RawSyscall6(unix.SYS_SETSOCKOPT, uintptr(fd), uintptr(level), uintptr(opt),
		uintptr(unsafe.Pointer(&v)), 4, 0)
	return errnoOf(e)
}

// rawSockError is getsockopt(2) SO_ERROR: the outcome of a non-blocking connect.
func rawSockError(fd int) error {
	var v int32
	l := uint32(4)
	_, _, e := unix.RawSyscall6(unix.SYS_GETSOCKOPT, uintptr(fd), unix.SOL_SOCKET, unix.SO_ERROR,
		uintptr(unsafe.Pointer(&v)), uintptr(unsafe.Pointer(&l)), 0)
	if e != 0 {
		return errnoOf(e)
	}
	return errnoOf(unix.Errno(v))
}

// rawBind is bind(2).
func rawBind(fd int, sa *rawSockaddr) error {
	_, _, e := unix.RawSyscall(unix.SYS_BIND, uintptr(fd), uintptr(unsafe.Pointer(&sa.raw)), uintptr(sa.len))
	return errnoOf(e)
}

// rawConnect is connect(2); on a non-blocking socket EINPROGRESS means it goes on.
func rawConnect(fd int, sa *rawSockaddr) error {
	for {
		_, _, e := unix.RawSyscall(unix.SYS_CONNECT, uintptr(fd), uintptr(unsafe.Pointer(&sa.raw)), uintptr(sa.len))
		if e == unix.EINTR {
			continue
		}
		return errnoOf(e)
	}
}

// rawGetsockname is getsockname(2).
func rawGetsockname(fd int, sa *rawSockaddr) error {
	sa.len = unix.SizeofSockaddrAny
	_, _, e := unix.RawSyscall(unix.SYS_GETSOCKNAME, uintptr(fd), uintptr(unsafe.Pointer(&sa.raw)),
		uintptr(unsafe.Pointer(&sa.len)))
	return errnoOf(e)
}

// rawWritev is writev(2) of two buffers, retried on EINTR.
func rawWritev(fd int, a, b []byte) (int, error) {
	iov := [2]unix.Iovec{}
	n := 0
	for _, p := range [2][]byte{a, b} {
		if len(p) > 0 {
			iov[n].Base = &p[0]
			iov[n].SetLen(len(p))
			n++
		}
	}
	if n == 0 {
		return 0, nil
	}
	for {
		m, _, e := unix.RawSyscall(unix.SYS_WRITEV, uintptr(fd), uintptr(unsafe.Pointer(&iov[0])), uintptr(n))
		if e == unix.EINTR {
			continue
		}
		if e != 0 {
			return 0, errnoOf(e)
		}
		return int(m), nil
	}
}

// rawEpollDel is epoll_ctl(2) EPOLL_CTL_DEL.
func rawEpollDel(epfd, fd int) error {
	var ev unix.EpollEvent
	_, _, e := unix.RawSyscall6(unix.SYS_EPOLL_CTL, uintptr(epfd), unix.EPOLL_CTL_DEL, uintptr(fd),
		uintptr(unsafe.Pointer(&ev)), 0, 0)
	return errnoOf(e)
}

// rawLingerZero sets SO_LINGER to 0: close(2) then resets the connection.
func rawLingerZero(fd int) error {
	l := unix.Linger{Onoff: 1, Linger: 0}
	_, _, e := unix.RawSyscall6(unix.SYS_SETSOCKOPT, uintptr(fd), unix.SOL_SOCKET, unix.SO_LINGER,
		uintptr(unsafe.Pointer(&l)), unsafe.Sizeof(l), 0)
	return errnoOf(e)
}
