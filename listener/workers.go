package listener

import (
	"net"
	"time"
)

// workerIdle is how long a connection worker waits for the next accepted connection before it
// ends. Any steady load keeps a few workers alive; a quiet server keeps none.
const workerIdle = 2 * time.Second

// accepted is a connection handed from an accept loop to a worker.
type accepted struct {
	l *listener
	c *net.TCPConn
}

// dispatch runs serveConn for c on an idle worker, or on a new one when all are busy. Workers
// are reused because a goroutine's stack grows (by copying) to what the TLS handshake and the
// pipeline need: a fresh goroutine per connection pays that growth every time, which measured
// about 8% of tether's CPU at 9,000 connections per second. On the event-loop engine a
// worker is busy only until the tunnel is handed over, so few are needed.
func (s *Server) dispatch(l *listener, c *net.TCPConn) {
	select {
	case s.work <- accepted{l, c}:
	default:
		go s.worker(accepted{l, c})
	}
}

// worker serves connections until none comes for workerIdle or the server stops.
func (s *Server) worker(a accepted) {
	a.l.serveConn(a.c)
	idle := time.NewTimer(workerIdle)
	defer idle.Stop()
	stopped := s.hardOrStopped()
	for {
		select {
		case a := <-s.work:
			a.l.serveConn(a.c)
			idle.Reset(workerIdle)
		case <-idle.C:
			return
		case <-stopped:
			return
		}
	}
}
