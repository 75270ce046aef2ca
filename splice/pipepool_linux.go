//go:build linux

package splice

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

const (
	// minPipeSize is the smallest pipe worth splicing through: smaller pipes
	// cost more CPU per byte than a 32 KiB buffered copy (measured: 1 MiB
	// ~0.27 CPU-s/GB, 64 KiB ~0.45, 8 KiB ~1.1, 32 KiB copy ~0.5).
	minPipeSize = 64 << 10

	// createRetry is how long the pool stops creating pipes after the
	// kernel refused one (EMFILE, pipe-user-pages-soft, ...).
	createRetry = time.Second
)

// pipe is a kernel pipe used as the splice(2) intermediary.
type pipe struct {
	r, w int // read and write ends
	size int // capacity in bytes (F_GETPIPE_SZ)
}

func (p *pipe) close() error {
	return errors.Join(unix.Close(p.r), unix.Close(p.w))
}

// pipePool lends empty pipes to bursts, at most max at once. Pipes are
// created on demand and kept idle (LIFO) for reuse until Close.
type pipePool struct {
	mu        sync.Mutex
	idle      []*pipe
	max       int
	lent      int
	size      int // F_SETPIPE_SZ target; lowered when the kernel refuses it
	minSize   int // below this a pipe is not worth using
	closed    bool
	retryAt   time.Time // no creation attempts before this
	created   uint64
	closedN   uint64
	fallbacks uint64
}

func newPipePool(maxPipes, size int) *pipePool {
	return &pipePool{max: maxPipes, size: size, minSize: min(size, minPipeSize)}
}

// get lends an empty pipe, or returns nil when none can be had (pool
// exhausted or closed, pipe creation refused): the caller copies instead.
func (pp *pipePool) get() *pipe {
	pp.mu.Lock()
	if n := len(pp.idle); n > 0 {
		p := pp.idle[n-1]
		pp.idle[n-1] = nil
		pp.idle = pp.idle[:n-1]
		pp.lent++
		pp.mu.Unlock()
		return p
	}
	if pp.closed || pp.lent >= pp.max || (!pp.retryAt.IsZero() && time.Now().Before(pp.retryAt)) {
		pp.fallbacks++
		pp.mu.Unlock()
		return nil
	}
	pp.lent++ // reserve the slot while creating outside the lock
	size := pp.size
	pp.mu.Unlock()

	p, target, err := newPipe(size, pp.minSize)

	pp.mu.Lock()
	defer pp.mu.Unlock()
	if err != nil {
		pp.lent--
		pp.fallbacks++
		pp.retryAt = time.Now().Add(createRetry)
		return nil
	}
	pp.created++
	pp.retryAt = time.Time{}
	if target < pp.size {
		pp.size = target // do not retry refused sizes for every pipe
	}
	return p
}

// put returns a pipe lent by get. Only an empty pipe may be reused: a pipe
// that may hold bytes after an error is closed.
func (pp *pipePool) put(p *pipe, empty bool) {
	pp.mu.Lock()
	pp.lent--
	if empty && !pp.closed {
		pp.idle = append(pp.idle, p)
		pp.mu.Unlock()
		return
	}
	pp.closedN++
	pp.mu.Unlock()
	_ = p.close()
}

func (pp *pipePool) stats() EngineStats {
	if pp == nil {
		return EngineStats{}
	}
	pp.mu.Lock()
	defer pp.mu.Unlock()
	return EngineStats{
		Lent:      pp.lent,
		Idle:      len(pp.idle),
		Created:   pp.created,
		Closed:    pp.closedN,
		Fallbacks: pp.fallbacks,
	}
}

// close closes the idle pipes; pipes returned later are closed too.
func (pp *pipePool) close() error {
	if pp == nil {
		return nil
	}
	pp.mu.Lock()
	idle := pp.idle
	pp.idle = nil
	pp.closed = true
	pp.closedN += uint64(len(idle))
	pp.mu.Unlock()
	var errs []error
	for _, p := range idle {
		if err := p.close(); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("close pipes: %w", err)
	}
	return nil
}

// fcntlInt is unix.FcntlInt; tests replace it to simulate kernel refusals.
var fcntlInt = unix.FcntlInt

// newPipe creates a pipe and grows it towards size, halving the target
// while the kernel refuses (EPERM above pipe-max-size or over
// pipe-user-pages-soft for unprivileged users; see pipe(7)). It fails when
// the pipe would stay below minSize. target is the size that worked.
func newPipe(size, minSize int) (p *pipe, target int, err error) {
	var fds [2]int
	if err := unix.Pipe2(fds[:], unix.O_CLOEXEC|unix.O_NONBLOCK); err != nil {
		return nil, size, os.NewSyscallError("pipe2", err)
	}
	p = &pipe{r: fds[0], w: fds[1]}
	for target = size; target >= minSize; target /= 2 {
		if got, err := fcntlInt(uintptr(p.w), unix.F_SETPIPE_SZ, target); err == nil && got >= minSize {
			p.size = got
			return p, target, nil
		}
	}
	// Keep the size the kernel gave the pipe if that is still useful.
	got, err := fcntlInt(uintptr(p.w), unix.F_GETPIPE_SZ, 0)
	if err == nil && got >= minSize {
		p.size = got
		return p, got, nil
	}
	_ = p.close()
	if err != nil {
		return nil, minSize, os.NewSyscallError("fcntl F_GETPIPE_SZ", err)
	}
	return nil, minSize, fmt.Errorf("pipe size %d below %d", got, minSize)
}
