package listener

import (
	"bytes"
	"errors"
	"log/slog"
	"math"
	"net"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/tether-proxy/tether/conf"
)

// Overload shedding (issue 12 item 5): a connection is checked the moment it is accepted,
// before any work is done for it. While tether is short of file descriptors or memory it is
// closed at once with a reset, counted and logged like every refusal (rate-limited, see
// refusalLog); tunnels already open go on, and the next connection is admitted as soon as
// there is room again.
const (
	acceptLogEvery = 10 * time.Second       // at most one "accept failed" line per this, with a count
	memSampleEvery = 100 * time.Millisecond // resident memory is read at most this often
	relieveEvery   = time.Second            // memory is handed back to the system at most this often
	fdsPerConn     = 2                      // a tunnel holds its client's and its backend's socket
)

// Refusal reasons of the shedder, named after the keys that set the limits. An accept that
// fails for want of descriptors refuses with [upstream.ReasonNoFD], as a dial does.
const (
	reasonFDReserve = "fd_reserve"
	reasonMaxMemory = "max_memory"
)

// shedder decides whether a new connection fits.
type shedder struct {
	reserve atomic.Int64 // fd_reserve; 0: no descriptor check
	maxMem  atomic.Int64 // resident-memory limit in bytes; 0: none
	fds     fdCounter

	rss      atomic.Int64 // last resident-memory sample, bytes; < 0: unreadable
	sampled  atomic.Int64 // when rss was read, Unix ns
	relieved atomic.Int64 // when memory was last handed back, Unix ns

	spareMu sync.Mutex
	spare   int // a descriptor held back (/dev/null), lent to accept to refuse a queued connection; -1: none
}

// configure applies a configuration's limits. An unset max_memory becomes conf.MemoryShare of
// the cgroup's memory limit, when there is one.
func (sh *shedder) configure(cfg *conf.Config, log *slog.Logger) {
	sh.reserve.Store(int64(cfg.FDReserve))
	limit := cfg.MaxMemory
	switch {
	case limit == conf.MaxMemoryOff:
		limit = 0
	case limit == 0:
		if cg := cgroupMemoryLimit(cgroupRoot, readFile("/proc/self/cgroup")); cg > 0 {
			limit = int64(float64(cg) * conf.MemoryShare)
		}
	}
	if limit > 0 && readRSS() < 0 {
		log.Warn("max_memory is not enforced: resident memory cannot be read here", "max_memory", limit)
		limit = 0
	}
	if old := sh.maxMem.Swap(limit); old != limit && limit > 0 {
		log.Info("max_memory in force: new connections are refused over it", "max_memory", limit, "from_cgroup", cfg.MaxMemory == 0)
	}
}

// start takes the descriptors the shedder holds while connections are accepted: the spare and
// the one it counts descriptors with. stop gives them back.
func (sh *shedder) start() {
	sh.spareMu.Lock()
	defer sh.spareMu.Unlock()
	sh.spare = openSpare()
	sh.fds.open()
}

func (sh *shedder) stop() {
	sh.spareMu.Lock()
	defer sh.spareMu.Unlock()
	if sh.spare >= 0 {
		syscall.Close(sh.spare)
		sh.spare = -1
	}
	sh.fds.close()
}

// check returns why a just-accepted connection must be refused ("" when it fits), with the
// measured value and the limit it crossed. An admitted connection is counted as fdsPerConn more
// descriptors until the next count.
func (sh *shedder) check() (reason string, value, limit int64) {
	if r := sh.reserve.Load(); r > 0 {
		if open, lim, ok := sh.fds.fits(r); !ok {
			return reasonFDReserve, open, lim
		}
	}
	if m := sh.maxMem.Load(); m > 0 {
		if rss := sh.memory(time.Now().UnixNano()); rss > m {
			sh.relieve()
			return reasonMaxMemory, rss, m
		}
	}
	return "", 0, 0
}

// memory returns the resident memory, read at most every memSampleEvery.
func (sh *shedder) memory(now int64) int64 {
	if last := sh.sampled.Load(); now-last >= int64(memSampleEvery) && sh.sampled.CompareAndSwap(last, now) {
		sh.rss.Store(readRSS())
	}
	return sh.rss.Load()
}

// relieve hands memory that closed tunnels freed back to the system (a garbage collection and
// scavenge), at most every relieveEvery, so that the resident size can fall under max_memory
// while new connections, which would otherwise trigger the collection, are refused.
func (sh *shedder) relieve() {
	now := time.Now().UnixNano()
	if last := sh.relieved.Load(); now-last < int64(relieveEvery) || !sh.relieved.CompareAndSwap(last, now) {
		return
	}
	go func() {
		debug.FreeOSMemory()
		sh.sampled.Store(0) // read again at the next accept
	}()
}

// shedRefused counts a connection refused at accept and logs it like every refusal
// (rate-limited per listener and reason, see refusalLog), with the measured value and the limit.
func (s *Server) shedRefused(rt *route, client net.Addr, reason string, value, limit int64) {
	s.refused(rt, reason)
	ok, suppressed := s.refusals.allow(refusalKey{rt.cfg.Name, reason}, time.Now())
	if !ok {
		return
	}
	attrs := []any{"listener", rt.cfg.Name, "reason", reason, "value", value, "limit", limit}
	if client != nil {
		attrs = append(attrs, "client", client.String())
	}
	if suppressed > 0 {
		attrs = append(attrs, "suppressed", suppressed)
	}
	s.log.Warn("connection rejected", attrs...)
}

// refuseQueued is called when accept failed for want of descriptors. Such an accept fails
// before it looks at the queue, so there may be a client waiting or none: the spare descriptor
// is lent to one non-blocking accept, and a client found is reset at once, instead of waiting
// in the queue for room (libuv does the same). It reports whether a client was refused; if
// not, the caller backs off, as accept would fail again at once.
func (sh *shedder) refuseQueued(ln any) bool {
	sh.spareMu.Lock()
	defer sh.spareMu.Unlock()
	if sh.spare < 0 {
		sh.spare = openSpare() // descriptors may be free again
		return false
	}
	rc, ok := ln.(syscall.Conn)
	if !ok {
		return false
	}
	raw, err := rc.SyscallConn()
	if err != nil {
		return false
	}
	syscall.Close(sh.spare)
	refused := false
	raw.Control(func(fd uintptr) { refused = resetOne(int(fd)) })
	sh.spare = openSpare()
	return refused
}

// isFDShortage reports whether an accept error is the process's or the system's open-file
// limit.
func isFDShortage(err error) bool {
	return errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE)
}

// fdCounter tells whether a new connection leaves fd_reserve descriptors free under the soft
// RLIMIT_NOFILE. It counts the open descriptors only when its estimate (the last count plus
// fdsPerConn for every connection admitted since) comes near the limit, and then at most every
// countEvery or countCost times as long as the last count took, so counting costs nothing far
// from the limit and at most 1/countCost of a core near it (a count of 10,000 descriptors takes
// about 2.7 ms: BenchmarkCountDir).
type fdCounter struct {
	mu    sync.Mutex // one count at a time; guards dir and buf
	dir   int        // /proc/self/fd, kept open so that a full table can still be counted; -1: none
	buf   []byte
	last  atomic.Int64 // descriptors open at the last count
	since atomic.Int64 // connections admitted since
	at    atomic.Int64 // when the last count began, Unix ns
	cost  atomic.Int64 // how long it took, ns

	limit   atomic.Int64 // the soft RLIMIT_NOFILE as last read
	limitAt atomic.Int64 // when it was read, Unix ns
}

// limitEvery is how often the open-file limit is read again (prlimit can change it from
// outside): not once per connection, where getrlimit would be a system call of every accept.
const limitEvery = 250 * time.Millisecond

const (
	countEvery = 100 * time.Millisecond
	countCost  = 25
)

// fits reports whether one more connection leaves reserve descriptors free, with the open count
// (or its estimate) and the limit.
func (f *fdCounter) fits(reserve int64) (open, limit int64, ok bool) {
	limit = f.currentLimit()
	if limit <= 0 {
		return 0, 0, true
	}
	room := func(open int64) bool { return open+fdsPerConn <= limit-reserve }
	open = f.last.Load() + fdsPerConn*f.since.Load()
	if !room(open) {
		now := time.Now().UnixNano()
		if now-f.at.Load() < max(int64(countEvery), countCost*f.cost.Load()) || !f.mu.TryLock() {
			return open, limit, false
		}
		n := f.count(now)
		f.mu.Unlock()
		if n < 0 {
			return open, limit, true // cannot count: let the accept or the dial fail instead
		}
		if open = n; !room(open) {
			return open, limit, false
		}
	}
	f.since.Add(1)
	return open, limit, true
}

// currentLimit returns the open-file limit, read again at most every limitEvery.
func (f *fdCounter) currentLimit() int64 {
	now := time.Now().UnixNano()
	if at := f.limitAt.Load(); at != 0 && now-at < int64(limitEvery) {
		return f.limit.Load()
	}
	l := nofileLimit()
	f.limit.Store(l)
	f.limitAt.Store(now)
	return l
}

// count counts the open descriptors now (f.mu held), or returns -1.
func (f *fdCounter) count(now int64) int64 {
	if f.dir < 0 {
		return -1
	}
	n := countDir(f.dir, &f.buf)
	if n >= 0 {
		f.last.Store(n)
		f.since.Store(0)
	}
	f.at.Store(now)
	f.cost.Store(time.Now().UnixNano() - now)
	return n
}

// nofileLimit returns the soft open-file limit (read each time: prlimit can change it from
// outside), or 0 when there is none.
func nofileLimit() int64 {
	var r syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &r); err != nil || r.Cur > math.MaxInt64 {
		return 0
	}
	return int64(r.Cur)
}

// readRSS returns the process's resident memory in bytes, or -1 when it cannot be read (no
// /proc). Tests replace it.
var readRSS = func() int64 {
	f := bytes.Fields(readFile("/proc/self/statm")) // size resident shared text lib data dt, in pages
	if len(f) < 2 {
		return -1
	}
	pages, err := strconv.ParseInt(string(f[1]), 10, 64)
	if err != nil {
		return -1
	}
	return pages * int64(os.Getpagesize())
}

// cgroupRoot is where the cgroup v2 hierarchy is mounted.
const cgroupRoot = "/sys/fs/cgroup"

// cgroupMemoryLimit returns the memory limit of the cgroup v2 that self (the text of
// /proc/self/cgroup) names: the smallest memory.max on its path up to root, or 0 when none is
// set. Inside a container with its own cgroup namespace the path is "/" and root's own
// memory.max is the container's.
func cgroupMemoryLimit(root string, self []byte) int64 {
	var path string
	for _, line := range bytes.Split(self, []byte("\n")) {
		if rest, ok := bytes.CutPrefix(line, []byte("0::")); ok {
			path = string(rest)
		}
	}
	if path == "" {
		return 0
	}
	var limit int64
	for dir := filepath.Clean("/" + path); ; dir = filepath.Dir(dir) {
		v := bytes.TrimSpace(readFile(filepath.Join(root, dir, "memory.max")))
		if n, err := strconv.ParseInt(string(v), 10, 64); err == nil && n > 0 && (limit == 0 || n < limit) {
			limit = n
		}
		if dir == "/" {
			return limit
		}
	}
}

// readFile returns the content of a small file, or nil.
func readFile(name string) []byte {
	b, _ := os.ReadFile(name)
	return b
}
