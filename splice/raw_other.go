//go:build !linux

package splice

// Off Linux there is no splice(2) and no readiness-driven tunnel: every
// tunnel is a stream tunnel (blocking Read holding a pooled buffer).

// pipePool is never instantiated: newPipePool returns nil.
type pipePool struct{}

func newPipePool(maxPipes, size int) *pipePool { return nil }

func (pp *pipePool) stats() EngineStats { return EngineStats{} }

func (pp *pipePool) close() error { return nil }
