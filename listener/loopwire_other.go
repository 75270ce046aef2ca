//go:build !linux

package listener

// Off Linux there is no event loop: every connection is accepted and set up by a goroutine.

type loopAccepting struct{}

func (s *Server) acceptOnLoop(*listener) bool { return false }

func (l *listener) stopLoopAccepting() {}
