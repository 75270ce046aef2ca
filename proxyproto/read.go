//go:build unix

// Package proxyproto reads the PROXY protocol header (HAProxy's proxy-protocol.txt, v1 and v2)
// that a trusted load balancer in front of tether sends first on each connection, without
// consuming a single byte past it: the bytes that follow (a TLS ClientHello, an HTTP head, a
// spliced stream) stay in the socket for the next step.
package proxyproto

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"syscall"

	pires "github.com/pires/go-proxyproto"
	"golang.org/x/sys/unix"
)

// Limits from proxy-protocol.txt: a v1 line is at most 107 bytes with its CRLF (section 2.1);
// a v2 header is 16 bytes plus a length (section 2.2), which tether caps well below 64 KiB.
const (
	maxV1     = 107
	maxV2     = 16 + 2048
	v2HeadLen = 16
)

var (
	sigV1 = []byte("PROXY ")
	sigV2 = []byte("\r\n\r\n\x00\r\nQUIT\n")
)

// MaxHeaderLen is the longest PROXY header tether reads (a v2 header with 2 KiB of TLVs).
const MaxHeaderLen = maxV2

// ErrNoHeader means the connection does not start with a PROXY signature.
var ErrNoHeader = errors.New("proxy protocol: no PROXY header")

// Frame reports how long the PROXY header at the start of b is. It returns n > 0 when b holds
// a whole header of n bytes, n == 0 when b is a prefix of a header that needs more bytes, and
// ErrNoHeader or another error when b cannot start a valid header.
func Frame(b []byte) (int, error) {
	switch {
	case len(b) == 0:
		return 0, nil
	case b[0] == sigV1[0]:
		if !bytes.HasPrefix(b, sigV1[:min(len(b), len(sigV1))]) {
			return 0, ErrNoHeader
		}
		i := bytes.IndexByte(b[:min(len(b), maxV1)], '\n')
		switch {
		case i < 0 && len(b) >= maxV1:
			return 0, fmt.Errorf("proxy protocol v1: no CRLF within %d bytes", maxV1)
		case i < 0:
			return 0, nil
		case i == 0 || b[i-1] != '\r':
			return 0, errors.New("proxy protocol v1: line does not end with CRLF")
		}
		return i + 1, nil
	case b[0] == sigV2[0]:
		if !bytes.HasPrefix(b, sigV2[:min(len(b), len(sigV2))]) {
			return 0, ErrNoHeader
		}
		if len(b) < v2HeadLen {
			return 0, nil
		}
		if b[12]>>4 != 2 {
			return 0, fmt.Errorf("proxy protocol v2: version %d", b[12]>>4)
		}
		n := v2HeadLen + int(binary.BigEndian.Uint16(b[14:16]))
		if n > maxV2 {
			return 0, fmt.Errorf("proxy protocol v2: header of %d bytes exceeds %d", n, maxV2)
		}
		if len(b) < n {
			return 0, nil
		}
		return n, nil
	}
	return 0, ErrNoHeader
}

// Header is what a PROXY header says about the connection that carries it.
type Header struct {
	// Version is 1 (text) or 2 (binary).
	Version int
	// Source is the client and Dest the address it connected to. Both are invalid (the zero
	// AddrPort) when the header names no TCP client: v1 "PROXY UNKNOWN", a v2 LOCAL header
	// (a load balancer's own health check) or a family other than TCP over IPv4 or IPv6.
	// A TCP4 header's addresses are IPv4 (never 4-in-6); a TCP6 header's are as sent.
	Source, Dest netip.AddrPort
}

// HasClient reports whether the header names a TCP client, which then stands for the peer.
func (h Header) HasClient() bool { return h.Source.IsValid() }

// Parse parses one complete header as framed by Frame.
func Parse(b []byte) (Header, error) {
	ph, err := pires.Read(bufio.NewReaderSize(bytes.NewReader(b), max(len(b), 256)))
	if err != nil {
		return Header{}, fmt.Errorf("proxy protocol: %w", err)
	}
	h := Header{Version: int(ph.Version)}
	src, dst, ok := ph.TCPAddrs()
	if !ok || ph.Command != pires.PROXY {
		return h, nil
	}
	h.Source, h.Dest = src.AddrPort(), dst.AddrPort()
	if ph.TransportProtocol == pires.TCPv4 { // nginx spells a v4 header address dotted, whatever the socket
		h.Source = netip.AddrPortFrom(h.Source.Addr().Unmap(), h.Source.Port())
		h.Dest = netip.AddrPortFrom(h.Dest.Addr().Unmap(), h.Dest.Port())
	}
	return h, nil
}

// Read reads one PROXY header from c, peeking (MSG_PEEK) until Frame says it is whole and then
// reading exactly its bytes. The caller bounds the wait with c's read deadline.
func Read(c syscall.Conn) (Header, error) {
	var buf [maxV2]byte
	n, err := peekUntil(c, buf[:], func(b []byte) (bool, error) {
		n, err := Frame(b)
		return n > 0, err
	})
	if err != nil {
		return Header{}, err
	}
	size, _ := Frame(buf[:n])
	if err := readExactly(c, buf[:size]); err != nil {
		return Header{}, fmt.Errorf("proxy protocol: read header: %w", err)
	}
	return Parse(buf[:size])
}

// HasSignature reports whether c starts with a PROXY v1 or v2 signature, consuming nothing. It
// waits only as long as the bytes seen so far could still be one.
func HasSignature(c syscall.Conn) (bool, error) {
	var buf [SignatureLen]byte
	n, err := peekUntil(c, buf[:], func(b []byte) (bool, error) {
		_, decided := Signature(b)
		return decided, nil
	})
	if err != nil {
		return false, err
	}
	has, _ := Signature(buf[:n])
	return has, nil
}

// SignatureLen is the most bytes Signature needs to decide.
const SignatureLen = 16

// Signature reports whether b, the first bytes of a connection, starts with a PROXY v1 or v2
// signature (has), once b is long enough to tell (decided): a caller that peeks reads no
// further than it must.
func Signature(b []byte) (has, decided bool) {
	if len(b) == 0 {
		return false, false
	}
	if _, err := Frame(b); errors.Is(err, ErrNoHeader) {
		return false, true
	}
	return true, len(b) >= len(sigV2) || (b[0] == 'P' && len(b) >= len(sigV1))
}

// peekUntil peeks into buf until done reports true, waiting for more bytes as needed.
func peekUntil(c syscall.Conn, buf []byte, done func([]byte) (bool, error)) (int, error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return 0, err
	}
	var n int
	var cbErr error
	err = rc.Read(func(fd uintptr) bool {
		m, _, rerr := unix.Recvfrom(int(fd), buf, unix.MSG_PEEK|unix.MSG_DONTWAIT)
		switch {
		case rerr == unix.EAGAIN || rerr == unix.EWOULDBLOCK:
			return false
		case rerr == unix.EINTR:
			return false
		case rerr != nil:
			cbErr = rerr
			return true
		case m == 0:
			cbErr = errors.New("proxy protocol: connection closed before the header")
			return true
		}
		n = m
		ok, derr := done(buf[:m])
		if derr != nil {
			cbErr = derr
			return true
		}
		if !ok && m == len(buf) {
			cbErr = errors.New("proxy protocol: header too long")
			return true
		}
		if !ok && PeerClosed(fd) {
			cbErr = errors.New("proxy protocol: connection closed before the header")
			return true
		}
		return ok // not done: wait until more bytes arrive
	})
	if err == nil {
		err = cbErr
	}
	return n, err
}

// readExactly consumes len(b) bytes that peekUntil saw.
func readExactly(c syscall.Conn, b []byte) error {
	if r, ok := c.(net.Conn); ok {
		for len(b) > 0 {
			n, err := r.Read(b)
			if err != nil {
				return err
			}
			b = b[n:]
		}
		return nil
	}
	return errors.New("not a net.Conn")
}
