package splice

import (
	"context"
	"fmt"
	"net"
)

// Defaults applied by NewEngine to zero EngineConfig fields.
const (
	DefaultMaxPipes = 1024    // pipes lent out at once
	DefaultPipeSize = 1 << 20 // 1 MiB: ~0.27 CPU-s/GB, vs ~0.45 for the 64 KiB kernel default
	DefaultBufSize  = 32 << 10

	// maxPipeSize caps EngineConfig.PipeSize; the kernel's own limit is 2 GiB
	// and bigger values would be truncated by F_SETPIPE_SZ.
	maxPipeSize = 1 << 30

	// maxTLSPlaintext is the largest plaintext one TLS record carries
	// (RFC 8446 section 5.1, RFC 5246 section 6.2.1); (*tls.Conn).Read never
	// returns more than one record's worth, so a bigger buffer is wasted.
	maxTLSPlaintext = 16 << 10
)

// Mode selects how an Engine runs tunnels.
type Mode uint8

// Modes.
const (
	// ModeAuto is the event loop on Linux, goroutines elsewhere.
	ModeAuto Mode = iota
	// ModeGoroutines runs each tunnel in two goroutines (one per direction)
	// that park in the Go netpoller between bursts.
	ModeGoroutines
	// ModeEventLoop runs every tunnel whose ends it can take over (plain
	// *net.TCPConn, and *tls.Conn made by TLSServer) on a few epoll event
	// loops, with no goroutine per tunnel. Linux only; elsewhere, and for
	// other conns, it behaves as ModeGoroutines.
	ModeEventLoop
)

func (m Mode) String() string {
	switch m {
	case ModeAuto:
		return "auto"
	case ModeGoroutines:
		return "goroutines"
	case ModeEventLoop:
		return "event loop"
	}
	return fmt.Sprintf("Mode(%d)", uint8(m))
}

// EngineConfig configures an Engine. The zero value selects the defaults.
type EngineConfig struct {
	// Mode selects the event loop or goroutines; zero means ModeAuto.
	Mode Mode

	// Loops is the number of event loops (ModeEventLoop); tunnels are
	// spread over them in turn. Zero or negative means GOMAXPROCS at the
	// first Start.
	Loops int

	// MaxPipes caps the pipes lent out to bursts at once (each pipe is two
	// fds); a burst that finds none free copies through a buffer instead.
	// Zero means DefaultMaxPipes; negative disables splicing.
	MaxPipes int

	// PipeSize is the F_SETPIPE_SZ target for new pipes. Zero or negative
	// means DefaultPipeSize; values above 1 GiB are capped. When the kernel refuses (pipe-max-size,
	// pipe-user-pages-soft), smaller sizes are tried down to 64 KiB (or
	// PipeSize if smaller); below that the burst copies through a buffer.
	PipeSize int

	// BufSize is the size of pooled copy buffers. Zero or negative means
	// DefaultBufSize. Buffers read from a *tls.Conn are at most 16 KiB.
	BufSize int
}

// Engine forwards tunnels, sharing one pipe pool and buffer pools between
// them. The zero value is not usable; create one with NewEngine. An Engine
// is safe for concurrent use.
type Engine struct {
	loops   eventLoops // the event loops; unused in ModeGoroutines
	pipes   *pipePool  // nil when splicing is disabled or unsupported
	bufs    bufPool    // BufSize buffers for copy bursts
	tlsBufs bufPool    // record-sized buffers for legs blocked in (*tls.Conn).Read
	bufSize int
}

// NewEngine returns an Engine configured by cfg.
func NewEngine(cfg EngineConfig) *Engine {
	bufSize := cfg.BufSize
	if bufSize <= 0 {
		bufSize = DefaultBufSize
	}
	e := &Engine{bufSize: bufSize}
	e.loops.init(cfg.Mode, cfg.Loops)
	e.bufs.init(bufSize)
	e.tlsBufs.init(min(bufSize, maxTLSPlaintext))
	if cfg.MaxPipes >= 0 {
		maxPipes, pipeSize := cfg.MaxPipes, cfg.PipeSize
		if maxPipes == 0 {
			maxPipes = DefaultMaxPipes
		}
		if pipeSize <= 0 {
			pipeSize = DefaultPipeSize
		}
		pipeSize = min(pipeSize, maxPipeSize)
		e.pipes = newPipePool(maxPipes, pipeSize)
	}
	return e
}

// EngineStats is a snapshot of an Engine's pipe pool, for tests and metrics.
// All fields are zero when splicing is disabled or unsupported.
type EngineStats struct {
	Lent      int    // pipes currently lent to bursts
	Idle      int    // pipes idle in the pool
	Created   uint64 // pipes created since NewEngine
	Closed    uint64 // pipes closed since NewEngine
	Fallbacks uint64 // bursts that copied through a buffer because no pipe could be borrowed

	Loops   int    // event loops running (started with the first tunnel, or by Prestart)
	Looped  int    // tunnels running on the event loops now
	Wakeups uint64 // rounds the event loops have run since NewEngine: flat while no tunnel has work
}

// Stats returns a snapshot of the pipe pool and the event loops.
func (e *Engine) Stats() EngineStats {
	st := e.pipes.stats()
	st.Loops = e.loops.running()
	st.Looped = e.loops.tunnels()
	st.Wakeups = e.loops.wakeups()
	return st
}

// Close closes the pipes idle in the pool and lets the event loops end
// once their last tunnel has. Tunnels still running keep working; pipes
// they return afterwards are closed, and their later bursts copy through
// buffers instead of splicing. Tunnels started after Close run on
// goroutines.
func (e *Engine) Close() error {
	e.loops.close()
	return e.pipes.close()
}

// Prestart starts the event loops now rather than with the first tunnel, so
// that a failure to create them (epoll_create1, eventfd) shows at start and
// their goroutines and fds are there from the beginning. It does nothing in
// ModeGoroutines or off Linux. After an error, tunnels run on goroutines.
func (e *Engine) Prestart() error { return e.loops.prestart(e) }

// Start forwards bytes between client and backend in the background, like
// Forward, and calls done once with the Result when the tunnel has ended and
// both conns are closed. done may run on the event loop (other tunnels wait
// while it runs), on a goroutine of the engine, or, when ctx is already
// cancelled, on the caller's: it must be quick and must not block; hand
// anything slow (such as writing a log line) to a goroutine.
//
// On the event loop (see ModeEventLoop) a tunnel holds no goroutine, no
// buffer and no pipe while it is idle: Start returns as soon as the loop has
// it, and the caller's goroutine may end.
func (e *Engine) Start(ctx context.Context, client, backend net.Conn, opt Options, done func(Result)) {
	if ctx.Err() != nil {
		done(e.forwardStream(ctx, client, backend, opt))
		return
	}
	if e.startDriven(ctx, client, backend, opt, done) {
		return
	}
	go func() { done(e.forwardStream(ctx, client, backend, opt)) }()
}

// Forward forwards bytes between client and backend in both directions
// until both are done, a timeout or an error ends the tunnel, or ctx is
// cancelled; then it closes both conns and returns what happened. No
// goroutine, fd, pipe or buffer of the tunnel outlives the call.
//
// client is typically a *net.TCPConn or a *tls.Conn (handshake done, made
// by TLSServer for the event loop to take it), backend a *net.TCPConn; any
// net.Conn works, but only plain *net.TCPConn sources (and, on the event
// loop, TLSServer conns) avoid holding a buffer while idle, and only
// *net.TCPConn pairs splice. Deadlines already set on the conns are
// cleared. Forward takes ownership of both conns: the caller must not use
// them concurrently or afterwards. ctx must be non-nil.
func (e *Engine) Forward(ctx context.Context, client, backend net.Conn, opt Options) Result {
	if ctx.Err() == nil {
		ch := make(chan Result, 1)
		send := func(r Result) { ch <- r }
		if e.startDriven(ctx, client, backend, opt, send) {
			return <-ch
		}
	}
	return e.forwardStream(ctx, client, backend, opt)
}

// startDriven starts the readiness-driven tunnel: on an event loop, or on
// goroutines (ModeGoroutines, or when the loop cannot take the sockets). It
// reports false when neither can drive these conns.
func (e *Engine) startDriven(ctx context.Context, client, backend net.Conn, opt Options, done func(Result)) bool {
	if e.loops.start(e, ctx, client, backend, opt, done) {
		return true
	}
	opt.BackendKeepAlive.setOn(backend)
	return e.startGoroutines(ctx, client, backend, opt, done)
}

// forwardStream runs one tunnel on the calling goroutine and one more,
// each direction blocked in Read with a buffer: the portable path, for
// conns the readiness-driven tunnel cannot drive (off Linux, a *tls.Conn
// not made by TLSServer, other net.Conn wrappers).
func (e *Engine) forwardStream(ctx context.Context, client, backend net.Conn, opt Options) Result {
	opt.BackendKeepAlive.setOn(backend)
	t := &tunnel{e: e, ctx: ctx, opt: opt, client: client, backend: backend}
	return t.forward()
}
