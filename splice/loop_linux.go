//go:build linux

package splice

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// maxEvents is how many epoll events one wait returns at most.
const maxEvents = 256

// eventLoops is an Engine's set of event loops, created at the first Start.
type eventLoops struct {
	mode   Mode
	n      int // loops wanted; 0 means GOMAXPROCS
	mu     sync.Mutex
	loops  []*loop
	next   atomic.Uint32 // round-robin cursor
	closed atomic.Bool
	count  atomic.Int64   // tunnels on the loops
	failed atomic.Bool    // creating the loops failed: goroutines from now on
	wg     sync.WaitGroup // running loops
}

// wait waits for every loop to have ended (after close, once their tunnels have).
func (ls *eventLoops) wait() { ls.wg.Wait() }

func (ls *eventLoops) init(mode Mode, n int) { ls.mode, ls.n = mode, n }

func (ls *eventLoops) enabled() bool {
	return ls.mode != ModeGoroutines && !ls.closed.Load()
}

func (ls *eventLoops) tunnels() int { return int(ls.count.Load()) }

// running is how many loops have been started.
func (ls *eventLoops) running() int {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	return len(ls.loops)
}

// wakeups is how many rounds the loops have run in all.
func (ls *eventLoops) wakeups() uint64 {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	var n uint64
	for _, lp := range ls.loops {
		n += lp.wakeups.Load()
	}
	return n
}

// close lets every loop end once it has no tunnel left.
func (ls *eventLoops) close() {
	ls.mu.Lock()
	ls.closed.Store(true)
	loops := ls.loops
	ls.mu.Unlock()
	for _, lp := range loops {
		lp.wake()
	}
}

// start hands the tunnel to a loop; false means the caller must run it on
// goroutines (goroutine mode, a conn the loop cannot take, no fds left).
func (ls *eventLoops) start(e *Engine, ctx context.Context, client, backend net.Conn, opt Options, done func(Result)) bool {
	if !ls.enabled() || !detachable(client) || !detachable(backend) {
		return false
	}
	t := &loopTunnel{e: e, ctx: ctx, opt: opt, done: done}
	if ka := opt.BackendKeepAlive; ka != nil && ka.Idle >= time.Second {
		t.ka = ka // armKeepAlive sets it once the tunnel lived keepAliveAfter
	}
	if err := t.detach(client, backend); err != nil {
		return false // e.g. out of fds: the goroutine path needs none
	}
	ls.mu.Lock()
	if ls.closed.Load() || ls.ensureLocked(e) != nil {
		ls.mu.Unlock()
		t.undo()
		return false
	}
	t.commit()
	lp := ls.loops[ls.next.Add(1)%uint32(len(ls.loops))]
	ls.count.Add(1)
	lp.post(t, opAdd)
	ls.mu.Unlock()
	return true
}

// prestart creates the loops unless they exist or cannot be used.
func (ls *eventLoops) prestart(e *Engine) error {
	if !ls.enabled() {
		return nil
	}
	ls.mu.Lock()
	defer ls.mu.Unlock()
	if ls.failed.Load() {
		return nil // reported by the call that failed
	}
	return ls.ensureLocked(e)
}

// errNoLoops is ensureLocked's answer once creating the loops has failed.
var errNoLoops = errors.New("splice: no event loops")

// ensureLocked creates the loops unless they exist; when that fails, the
// loops made so far end and every later tunnel runs on goroutines.
// ls.mu is held.
func (ls *eventLoops) ensureLocked(e *Engine) error {
	switch {
	case ls.loops != nil:
		return nil
	case ls.failed.Load():
		return errNoLoops
	}
	if err := ls.create(e); err != nil {
		ls.failed.Store(true)
		for _, lp := range ls.loops {
			lp.wake() // they end: failed is set and they have no tunnel
		}
		ls.loops = nil
		return fmt.Errorf("splice: event loops: %w", err)
	}
	return nil
}

// create starts the loops; ls.mu is held.
func (ls *eventLoops) create(e *Engine) error {
	n := ls.n
	if n <= 0 {
		n = runtime.GOMAXPROCS(0)
	}
	for range n {
		lp, err := newLoop(e, ls)
		if err != nil {
			return err
		}
		ls.loops = append(ls.loops, lp)
		ls.wg.Add(1)
		go lp.run()
	}
	return nil
}

// detachable reports whether the loop can take c over.
func detachable(c net.Conn) bool {
	switch c := c.(type) {
	case *net.TCPConn:
		return true
	case interface{ NetConn() net.Conn }:
		_, ok := c.NetConn().(*transport)
		return ok
	}
	return false
}

// Inbox operations, posted to a loop from other goroutines.
const (
	opAdd       = iota + 1 // take a new tunnel
	opAbort                // the tunnel's (or setup's) context was cancelled
	opListen               // accept on an Acceptor's socket
	opUnlisten             // stop accepting on it
	opHandshake            // a setup's TLS handshake ended (Setup.StartTLS)
)

type inboxItem struct {
	t  *loopTunnel
	a  *Acceptor
	op uint8
}

// loop is one event loop: an epoll set of tunnel sockets, waited on
// through the Go netpoller (the epoll fd is itself pollable), so the loop
// goroutine parks like any other and no OS thread blocks in epoll_wait.
type loop struct {
	e       *Engine
	ls      *eventLoops
	epfd    int
	epf     *os.File           // epfd, registered with the Go netpoller
	epraw   syscall.RawConn    // epf's RawConn
	pollFn  func(uintptr) bool // bound once: a closure per wait would allocate
	wakefd  int                // eventfd: a post wakes the loop
	events  []unix.EpollEvent
	nevents int
	buf     []byte // the copy buffer shared by every burst of this loop

	base  time.Time // origin of now and deadlines
	clock int64     // ns since base, refreshed once per wake-up
	armed int64     // deadline set on epf: 0 if none, deadlineSpent once it has passed

	wakeups atomic.Uint64 // rounds of run: a loop with nothing to do must not add to it

	slots     []*loopTunnel // by slot number (epoll event data)
	free      []int32       // free slot numbers
	freeLater []int32       // slots of tunnels closed in this round
	count     int           // tunnels on this loop
	runq      []*loopTunnel // tunnels that stopped at their budget with work left
	runqNext  []*loopTunnel // runq's second buffer: runReady swaps them, allocating nothing
	timers    timerHeap

	mu    sync.Mutex
	inbox []inboxItem
	spare []inboxItem

	acceptors     []*Acceptor   // by index (epoll event data acceptorEventFD); nil: free
	listening     int           // acceptors not nil
	acceptPaused  int64         // accepting resumes at this clock after an error; 0: not paused
	acceptBackoff time.Duration // the last pause
}

func newLoop(e *Engine, ls *eventLoops) (*loop, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("epoll_create1: %w", err)
	}
	wakefd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		unix.Close(epfd)
		return nil, fmt.Errorf("eventfd: %w", err)
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLET, Fd: -1}
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, wakefd, &ev); err != nil {
		unix.Close(epfd)
		unix.Close(wakefd)
		return nil, fmt.Errorf("epoll_ctl add eventfd: %w", err)
	}
	if err := unix.SetNonblock(epfd, true); err != nil {
		unix.Close(epfd)
		unix.Close(wakefd)
		return nil, fmt.Errorf("epoll fd non-blocking: %w", err)
	}
	epf := os.NewFile(uintptr(epfd), "epoll")
	raw, err := epf.SyscallConn()
	if err != nil {
		epf.Close()
		unix.Close(wakefd)
		return nil, fmt.Errorf("epoll fd: %w", err)
	}
	lp := &loop{
		e: e, ls: ls, epfd: epfd, epf: epf, epraw: raw, wakefd: wakefd,
		events: make([]unix.EpollEvent, maxEvents),
		buf:    make([]byte, max(e.bufSize, maxTLSPlaintext)),
		base:   time.Now(),
	}
	lp.pollFn = lp.poll
	return lp, nil
}

// poll is the netpoller callback: collect events, park if there are none.
func (lp *loop) poll(uintptr) bool {
	lp.epollNow()
	return lp.nevents > 0
}

// post queues an operation for the loop and wakes it.
func (lp *loop) post(t *loopTunnel, op uint8) {
	lp.mu.Lock()
	lp.inbox = append(lp.inbox, inboxItem{t: t, op: op})
	first := len(lp.inbox) == 1
	lp.mu.Unlock()
	if first {
		lp.wake()
	}
}

// postAcceptor queues opListen or opUnlisten for a and wakes the loop.
func (lp *loop) postAcceptor(a *Acceptor, op uint8) {
	lp.mu.Lock()
	lp.inbox = append(lp.inbox, inboxItem{a: a, op: op})
	lp.mu.Unlock()
	lp.wake()
}

func (lp *loop) wake() {
	one := [8]byte{1}
	for {
		_, err := unix.Write(lp.wakefd, one[:])
		if err != unix.EINTR {
			return // EAGAIN: the counter is saturated, the loop is awake anyway
		}
	}
}

// run is the loop's goroutine.
func (lp *loop) run() {
	defer lp.shutdown()
	for {
		lp.wakeups.Add(1)
		lp.clock = int64(time.Since(lp.base))
		if !lp.drainInbox() {
			return
		}
		lp.resumeAccepting()
		lp.runTimers()
		lp.runReady()
		lp.wait()
		lp.dispatch()
	}
}

// drainInbox applies posted operations; false means the loop should end.
func (lp *loop) drainInbox() bool {
	lp.mu.Lock()
	items := lp.inbox
	lp.inbox = lp.spare[:0]
	lp.mu.Unlock()
	for i, it := range items {
		switch it.op {
		case opAdd:
			lp.add(it.t)
		case opAbort:
			switch {
			case it.t.stopped:
			case it.t.setup != nil:
				it.t.setup.advance() // the handler sees Aborted
			default:
				it.t.end(Aborted, context.Cause(it.t.ctx))
			}
		case opHandshake:
			if !it.t.stopped && it.t.setup != nil {
				it.t.setup.handshakeEnded()
			}
		case opListen:
			lp.listen(it.a)
		case opUnlisten:
			lp.unlisten(it.a)
		}
		items[i] = inboxItem{}
	}
	lp.spare = items[:0]
	lp.recycleSlots()
	if lp.count == 0 && lp.listening == 0 && (lp.ls.closed.Load() || lp.ls.failed.Load()) {
		lp.mu.Lock()
		empty := len(lp.inbox) == 0
		lp.mu.Unlock()
		return !empty
	}
	return true
}

// wait collects ready events into lp.events, parking in the netpoller when
// there is nothing to do until the next event or timer.
func (lp *loop) wait() {
	lp.nevents = 0
	if len(lp.runq) > 0 {
		lp.epollNow()
		return
	}
	lp.armDeadline()
	err := lp.epraw.Read(lp.pollFn)
	if err != nil {
		if errors.Is(err, os.ErrDeadlineExceeded) {
			// The deadline is spent but still set on epf: every wait would
			// return at once until armDeadline moves or clears it, even when
			// the timer heap is now empty (issue 10: a loop spinning at 100%
			// CPU after its last tunnel idled out).
			lp.armed = deadlineSpent
			return
		}
		panic(fmt.Sprintf("splice: event loop wait: %v", err)) // the epoll fd is ours: cannot happen
	}
}

// epollNow collects ready events without blocking.
func (lp *loop) epollNow() {
	for {
		n, err := rawEpollWaitNow(lp.epfd, lp.events)
		if err == unix.EINTR {
			continue
		}
		lp.nevents = max(n, 0)
		return
	}
}

// deadlineSpent marks lp.armed when the deadline set on epf has passed: it
// differs from every due time and from 0 (no timer), so the next
// armDeadline always replaces or clears it.
const deadlineSpent = -1

// armDeadline sets the netpoller deadline to the earliest timer, or clears
// it when no timer is pending.
func (lp *loop) armDeadline() {
	due := int64(0)
	if len(lp.timers) > 0 {
		due = max(lp.timers[0].due, 1)
	}
	if p := lp.acceptPaused; p != 0 && (due == 0 || p < due) {
		due = p
	}
	if due == lp.armed {
		return
	}
	lp.armed = due
	d := time.Time{}
	if due != 0 {
		d = lp.base.Add(time.Duration(due))
	}
	_ = lp.epf.SetReadDeadline(d)
}

// dispatch marks the sockets of each event ready and pumps their tunnels.
func (lp *loop) dispatch() {
	lp.clock = int64(time.Since(lp.base))
	for i := range lp.nevents {
		ev := &lp.events[i]
		if ev.Fd < 0 {
			if ev.Fd == -1 {
				var b [8]byte
				_, _ = unix.Read(lp.wakefd, b[:])
			} else {
				lp.acceptOn(int(-2 - ev.Fd))
			}
			continue
		}
		t := lp.slots[ev.Fd]
		if t == nil || t.stopped {
			continue
		}
		ep := &t.client
		if ev.Pad == int32(sideBackend) {
			ep = &t.backend
		}
		if ev.Events&(unix.EPOLLIN|unix.EPOLLRDHUP|unix.EPOLLHUP|unix.EPOLLERR) != 0 {
			ep.readable = true
			if ev.Events&(unix.EPOLLRDHUP|unix.EPOLLHUP|unix.EPOLLERR) != 0 {
				ep.hup = true
			}
		}
		if ev.Events&(unix.EPOLLOUT|unix.EPOLLHUP|unix.EPOLLERR) != 0 {
			ep.writable = true
		}
		if ev.Events&unix.EPOLLERR != 0 || ev.Events&(unix.EPOLLHUP|unix.EPOLLOUT) == unix.EPOLLHUP {
			ep.errEvent = true
		}
		t.pump()
	}
	lp.recycleSlots()
}

// runTimers fires the due timers.
func (lp *loop) runTimers() {
	for len(lp.timers) > 0 && lp.timers[0].due <= lp.clock {
		t := lp.timers[0]
		lp.timers.remove(t)
		t.onTimer(lp.clock)
	}
}

// runReady pumps the tunnels that used up their budget last round.
func (lp *loop) runReady() {
	q := lp.runq
	lp.runq = lp.runqNext[:0] // tunnels pumped now may queue again
	for i, t := range q {
		t.queued = false
		if !t.stopped {
			t.pump()
		}
		q[i] = nil
	}
	lp.runqNext = q[:0]
}

// add registers a new tunnel's sockets and moves whatever is already there.
func (lp *loop) add(t *loopTunnel) {
	lp.place(t)
	t.start(lp.clock)
	for _, ep := range []*endpoint{&t.client, &t.backend} {
		if t.stopped {
			return
		}
		ev := unix.EpollEvent{
			Events: unix.EPOLLIN | unix.EPOLLOUT | unix.EPOLLRDHUP | unix.EPOLLET,
			Fd:     t.slot,
			Pad:    int32(ep.side),
		}
		if err := rawEpollAdd(lp.epfd, ep.fd, &ev); err != nil {
			t.fail(&legError{side: ep.side, op: "read", err: os.NewSyscallError("epoll_ctl", err)})
			return
		}
	}
	// Data may be waiting already (the client's first frame, plaintext a
	// *tls.Conn has buffered): every socket starts readable and writable.
	t.pump()
}

// place gives t a slot on the loop (its epoll event data) and counts it.
func (lp *loop) place(t *loopTunnel) {
	t.drv = lp
	var slot int32
	if n := len(lp.free); n > 0 {
		slot, lp.free = lp.free[n-1], lp.free[:n-1]
	} else {
		slot = int32(len(lp.slots))
		lp.slots = append(lp.slots, nil)
	}
	lp.slots[slot] = t
	t.slot = slot
	lp.count++
}

// remove forgets a stopped tunnel; its slot is reused after this round,
// when no event of this round can name it any more.
func (lp *loop) remove(t *loopTunnel) {
	lp.freeLater = append(lp.freeLater, t.slot)
	lp.count--
	lp.ls.count.Add(-1)
	lp.timers.remove(t)
}

func (lp *loop) recycleSlots() {
	for _, s := range lp.freeLater {
		lp.slots[s] = nil
		lp.free = append(lp.free, s)
	}
	lp.freeLater = lp.freeLater[:0]
}

// The loop is a driver of its tunnels.
var _ driver = (*loop)(nil)

func (lp *loop) now() int64                        { return lp.clock }
func (lp *loop) scratch() []byte                   { return lp.buf }
func (lp *loop) setTimer(t *loopTunnel, due int64) { lp.timers.set(t, due) }
func (lp *loop) again(t *loopTunnel)               { lp.schedule(t) }
func (lp *loop) abortOn(t *loopTunnel) func() bool {
	return context.AfterFunc(t.ctx, func() { lp.post(t, opAbort) })
}

func (lp *loop) ended(t *loopTunnel, res Result) {
	lp.remove(t)
	t.done(res)
}

// schedule queues t to be pumped again in the next round.
func (lp *loop) schedule(t *loopTunnel) {
	if !t.queued {
		t.queued = true
		lp.runq = append(lp.runq, t)
	}
}

// shutdown releases the loop's fds once it has ended.
func (lp *loop) shutdown() {
	lp.epf.Close()
	unix.Close(lp.wakefd)
	lp.ls.wg.Done()
}
