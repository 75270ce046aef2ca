package listener

import (
	"encoding/binary"
	"syscall"
	"time"
)

// open opens /proc/self/fd for counting.
func (f *fdCounter) open() {
	f.mu.Lock()
	defer f.mu.Unlock()
	fd, err := syscall.Open("/proc/self/fd", syscall.O_RDONLY|syscall.O_DIRECTORY|syscall.O_CLOEXEC, 0)
	if err != nil {
		fd = -1
	}
	f.dir = fd
	f.count(time.Now().UnixNano()) // the estimate starts from here
}

func (f *fdCounter) close() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.dir >= 0 {
		syscall.Close(f.dir)
		f.dir = -1
	}
}

// countDir counts the entries of the open directory dir (but "." and ".."), reading it from
// the start with getdents64 into *buf, without allocating once *buf is grown; -1 on error.
func countDir(dir int, buf *[]byte) int64 {
	if len(*buf) == 0 {
		*buf = make([]byte, 64<<10)
	}
	if _, err := syscall.Seek(dir, 0, 0); err != nil {
		return -1
	}
	var n int64
	for {
		got, err := syscall.Getdents(dir, *buf)
		if err != nil {
			return -1
		}
		if got == 0 {
			return n - 2
		}
		// struct linux_dirent64: ino u64, off s64, reclen u16, type u8, name.
		for off := 0; off+18 < got; {
			reclen := int(binary.NativeEndian.Uint16((*buf)[off+16:]))
			if reclen == 0 {
				return -1
			}
			off += reclen
			n++
		}
	}
}

// openSpare opens the spare descriptor, or returns -1.
func openSpare() int {
	fd, err := syscall.Open("/dev/null", syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return -1
	}
	return fd
}

// resetOne accepts one queued connection on the listening socket ln without blocking and
// closes it with a reset. It reports whether there was one.
func resetOne(ln int) bool {
	c, _, err := syscall.Accept4(ln, syscall.SOCK_CLOEXEC|syscall.SOCK_NONBLOCK)
	if err != nil {
		return false
	}
	syscall.SetsockoptLinger(c, syscall.SOL_SOCKET, syscall.SO_LINGER, &syscall.Linger{Onoff: 1, Linger: 0})
	syscall.Close(c)
	return true
}
