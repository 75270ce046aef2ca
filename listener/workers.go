package listener

import (
	"net"
	"time"
)

// workerIdle is how long a worker waits for its next job before it ends. Any steady load keeps
// a few workers alive; a quiet server keeps none.
const workerIdle = 2 * time.Second

// dispatch serves c on a worker: its whole pipeline (TLS listeners off the event loops, the
// goroutine engine).
func (s *Server) dispatch(l *listener, c *net.TCPConn) {
	s.spawn(func() { l.serveConn(c) })
}

// spawn runs job on an idle worker, or on a new one when all are busy. Workers are reused
// because a goroutine's stack grows (by copying) to what a TLS handshake and the pipeline
// need: a fresh goroutine per job pays that growth every time. Measured on TLS handshakes
// (bench/RESULTS.md, 2026-12-07): reused workers do 4% more full handshakes per proxy core
// than a goroutine per connection. On the event-loop engine a worker is busy only for a TLS
// handshake, so few are needed.
func (s *Server) spawn(job func()) {
	select {
	case s.work <- job:
	default:
		go s.worker(job)
	}
}

// worker runs jobs until none comes for workerIdle or the server stops.
func (s *Server) worker(job func()) {
	job()
	idle := time.NewTimer(workerIdle)
	defer idle.Stop()
	stopped := s.hardOrStopped()
	for {
		select {
		case job := <-s.work:
			job()
			idle.Reset(workerIdle)
		case <-idle.C:
			return
		case <-stopped:
			return
		}
	}
}
