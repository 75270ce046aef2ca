package splice

import (
	"crypto/tls"
	"errors"
	"net"
	"time"
)

// TLSServer returns the server side of a TLS connection over c, like
// tls.Server, but one whose socket the event-loop engine can take over once
// the handshake is done: Start then serves the *tls.Conn from its event loop,
// with no goroutine and no buffer held while the tunnel is idle. A *tls.Conn
// made by tls.Server directly still works everywhere, on the goroutine path.
//
// Until Start takes it over, the connection behaves exactly like one made by
// tls.Server (deadlines included).
func TLSServer(c *net.TCPConn, cfg *tls.Config) *tls.Conn {
	return tls.Server(&transport{TCPConn: c}, cfg)
}

// transport is the net.Conn under a *tls.Conn made by TLSServer. It passes
// everything to the socket until an event loop detaches it; from then on it
// reads and writes the loop's non-blocking endpoint: reads that would block
// return errWouldBlock (which crypto/tls treats as temporary, keeping any
// partial record for the next Read), and writes the socket does not take are
// kept by the endpoint until the socket is writable again (crypto/tls treats
// every write error as permanent, so a write must never "would block").
//
// A transport made by Setup.StartTLS has no *net.TCPConn: the socket is the
// event loop's from accept on. Its handshake reads and writes through hs on
// the handshake's goroutine, then the loop binds ep.
type transport struct {
	*net.TCPConn
	ep *endpoint // non-nil once detached: the event loop owns the socket

	hs     handshakeIO     // Setup.StartTLS: the handshake's reads and writes, until ep is bound
	remote net.Addr        // Setup.StartTLS: the client's address
	local  func() net.Addr // Setup.StartTLS: the socket's address, read only if asked for
}

// handshakeIO is how a handshake on a goroutine reaches a socket the event loop owns.
type handshakeIO interface {
	read(p []byte) (int, error)
	write(p []byte) (int, error)
}

var _ net.Conn = (*transport)(nil)

// errDetachedClosed is what a detached transport reports after its tunnel ended.
var errDetachedClosed = errors.New("splice: connection closed by the event loop")

func (t *transport) Read(p []byte) (int, error) {
	switch {
	case t.ep != nil:
		return t.ep.read(p)
	case t.hs != nil:
		return t.hs.read(p)
	}
	return t.TCPConn.Read(p)
}

func (t *transport) Write(p []byte) (int, error) {
	switch {
	case t.ep != nil:
		return t.ep.send(p)
	case t.hs != nil:
		return t.hs.write(p)
	}
	return t.TCPConn.Write(p)
}

// loopOwned reports whether an event loop owns the socket (and times it).
func (t *transport) loopOwned() bool { return t.ep != nil || t.TCPConn == nil }

// Close closes the socket unless an event loop owns it (the loop closes it
// when the tunnel ends).
func (t *transport) Close() error {
	if t.loopOwned() {
		return nil
	}
	return t.TCPConn.Close()
}

func (t *transport) LocalAddr() net.Addr {
	if t.TCPConn == nil {
		return t.local()
	}
	return t.TCPConn.LocalAddr()
}

func (t *transport) RemoteAddr() net.Addr {
	if t.TCPConn == nil {
		return t.remote
	}
	return t.TCPConn.RemoteAddr()
}

// Deadlines do not apply once detached: the event loop times the tunnel
// (crypto/tls sets a write deadline around close_notify), and a
// Setup.StartTLS handshake (the setup's timer ends it).
func (t *transport) SetDeadline(d time.Time) error {
	if t.loopOwned() {
		return nil
	}
	return t.TCPConn.SetDeadline(d)
}

func (t *transport) SetReadDeadline(d time.Time) error {
	if t.loopOwned() {
		return nil
	}
	return t.TCPConn.SetReadDeadline(d)
}

func (t *transport) SetWriteDeadline(d time.Time) error {
	if t.loopOwned() {
		return nil
	}
	return t.TCPConn.SetWriteDeadline(d)
}
