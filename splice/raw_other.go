//go:build !linux

package splice

import (
	"net"
	"syscall"
)

// Off Linux there is no splice(2) and no raw readiness path: every leg
// takes copyStream (blocking Read holding a pooled buffer).

// legSys is empty: the raw path does not exist here.
type legSys struct{}

// pipePool is never instantiated: newPipePool returns nil.
type pipePool struct{}

func newPipePool(maxPipes, size int) *pipePool { return nil }

func (pp *pipePool) stats() EngineStats { return EngineStats{} }

func (pp *pipePool) close() error { return nil }

// rawConnOf returns nil: no conn takes the raw path.
func rawConnOf(net.Conn) syscall.RawConn { return nil }

func (l *leg) initRaw() {}

func (l *leg) copyRaw() error { return l.copyStream() }
