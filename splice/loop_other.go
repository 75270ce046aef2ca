//go:build !linux

package splice

import (
	"context"
	"errors"
	"net"
)

// ErrWouldBlock is returned by calls that would block on an event loop; off Linux there is none.
var ErrWouldBlock = errors.New("splice: would block")

// Off Linux there is no event loop: every tunnel runs on goroutines.
type eventLoops struct{}

func (eventLoops) init(Mode, int)  {}
func (eventLoops) tunnels() int    { return 0 }
func (eventLoops) running() int    { return 0 }
func (eventLoops) wakeups() uint64 { return 0 }
func (eventLoops) close()          {}
func (eventLoops) wait()           {}

func (eventLoops) prestart(*Engine) error { return nil }
func (eventLoops) start(*Engine, context.Context, net.Conn, net.Conn, Options, func(Result)) bool {
	return false
}

// startGoroutines is the readiness-driven tunnel on goroutines: Linux only.
func (*Engine) startGoroutines(context.Context, net.Conn, net.Conn, Options, func(Result)) bool {
	return false
}

// endpoint is never detached off Linux.
type endpoint struct{}

func (*endpoint) read([]byte) (int, error) { return 0, errDetachedClosed }
func (*endpoint) send([]byte) (int, error) { return 0, errDetachedClosed }
