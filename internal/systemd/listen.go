//go:build unix

package systemd

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// listenFDsStart is the first file descriptor systemd passes (SD_LISTEN_FDS_START).
const listenFDsStart = 3

// maxListenFDs bounds $LISTEN_FDS: far more sockets than any tether configuration has, far
// fewer than a malformed value could make us walk.
const maxListenFDs = 1024

// Socket is one listening socket passed by systemd.
type Socket struct {
	// File is the socket; the caller takes ownership.
	File *os.File
	// Name is its FileDescriptorName= from $LISTEN_FDNAMES ("" when not given).
	Name string
	// Addr is the TCP address it is bound to.
	Addr netip.AddrPort
}

// ListenEnv is the socket-activation environment as systemd sets it.
type ListenEnv struct {
	PID, FDs, FDNames string
	set               bool
}

// TakeListenEnv reads $LISTEN_PID, $LISTEN_FDS and $LISTEN_FDNAMES and removes them from the
// environment (sd_listen_fds(3) with unset_environment), so that no process tether starts
// takes them for its own.
func TakeListenEnv() ListenEnv {
	e := ListenEnv{PID: os.Getenv("LISTEN_PID"), FDs: os.Getenv("LISTEN_FDS"), FDNames: os.Getenv("LISTEN_FDNAMES")}
	e.set = e.PID != "" || e.FDs != ""
	for _, k := range []string{"LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"} {
		os.Unsetenv(k)
	}
	return e
}

// Set reports whether systemd passed sockets (or tried to).
func (e ListenEnv) Set() bool { return e.set }

// ParseListenEnv checks the variables against this process (pid) and returns how many
// descriptors were passed and their names (one per descriptor, "" when not named). Every
// malformation is an error that says which variable is wrong and how.
func ParseListenEnv(pidText, fdsText, namesText string, pid int) (int, []string, error) {
	if pidText == "" {
		return 0, nil, errors.New("LISTEN_FDS is set without LISTEN_PID")
	}
	p, err := strconv.Atoi(pidText)
	if err != nil || p <= 0 {
		return 0, nil, fmt.Errorf("LISTEN_PID=%q: not a process id", pidText)
	}
	if p != pid {
		return 0, nil, fmt.Errorf("LISTEN_PID=%d is another process (this is %d): the sockets are not ours", p, pid)
	}
	n, err := strconv.Atoi(fdsText)
	if err != nil || n < 0 || n > maxListenFDs {
		return 0, nil, fmt.Errorf("LISTEN_FDS=%q: want a number of descriptors from 0 to %d", fdsText, maxListenFDs)
	}
	names := make([]string, n)
	if namesText != "" {
		parts := strings.Split(namesText, ":")
		if len(parts) != n {
			return 0, nil, fmt.Errorf("LISTEN_FDNAMES has %d names for LISTEN_FDS=%d descriptors", len(parts), n)
		}
		copy(names, parts)
	}
	return n, names, nil
}

// Sockets returns the sockets systemd passed, after ParseListenEnv accepted e. A descriptor
// that is not a listening TCP socket is closed and reported in the error, which then lists
// every such descriptor; the good ones are returned beside it.
func (e ListenEnv) Sockets() ([]Socket, error) {
	n, names, err := ParseListenEnv(e.PID, e.FDs, e.FDNames, os.Getpid())
	if err != nil {
		return nil, err
	}
	var out []Socket
	var bad []error
	for i := range n {
		fd := listenFDsStart + i
		addr, err := listeningTCP(fd)
		if err != nil {
			bad = append(bad, fmt.Errorf("descriptor %d (%q): %w", fd, names[i], err))
			unix.Close(fd)
			continue
		}
		unix.CloseOnExec(fd)
		out = append(out, Socket{File: os.NewFile(uintptr(fd), "systemd:"+names[i]), Name: names[i], Addr: addr})
	}
	return out, errors.Join(bad...)
}

// listeningTCP returns the address of fd when it is a listening TCP socket.
func listeningTCP(fd int) (netip.AddrPort, error) {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return netip.AddrPort{}, fmt.Errorf("not open: %w", err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFSOCK {
		return netip.AddrPort{}, errors.New("not a socket")
	}
	if t, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TYPE); err != nil || t != unix.SOCK_STREAM {
		return netip.AddrPort{}, errors.New("not a stream socket (ListenStream= is needed)")
	}
	if on, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ACCEPTCONN); err != nil || on == 0 {
		return netip.AddrPort{}, errors.New("not listening")
	}
	sa, err := unix.Getsockname(fd)
	if err != nil {
		return netip.AddrPort{}, err
	}
	switch a := sa.(type) {
	case *unix.SockaddrInet4:
		return netip.AddrPortFrom(netip.AddrFrom4(a.Addr), uint16(a.Port)), nil
	case *unix.SockaddrInet6:
		return netip.AddrPortFrom(netip.AddrFrom16(a.Addr), uint16(a.Port)), nil
	}
	return netip.AddrPort{}, errors.New("not a TCP socket (IPv4 or IPv6)")
}
