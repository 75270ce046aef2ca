package systemd

import (
	"fmt"
	"log/slog"
	"math"
	"net"
	"os"
	"strconv"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// Notifier sends state changes to the service manager. The zero value and a nil *Notifier
// send nothing, so callers need not check whether tether runs under systemd.
type Notifier struct {
	addr  *net.UnixAddr
	log   *slog.Logger
	queue chan message
	done  chan struct{}

	mu     sync.Mutex // guards closing queue against sends
	closed bool
}

// message is one datagram, or (state == "") a flush marker closed once those before it went.
type message struct {
	state   string
	flushed chan struct{}
}

// queueLen bounds the messages waiting for a slow receiver; beyond it new ones are dropped
// (and logged), never waited for.
const queueLen = 64

// sendTimeout bounds one datagram's write when the receiver's queue is full.
const sendTimeout = time.Second

// NewNotifier returns a Notifier for $NOTIFY_SOCKET (a path, or "@name" for an abstract
// socket), or nil when it is not set. Unlike the LISTEN_* variables it stays in the
// environment: a binary upgrade's new process needs it to announce itself (MAINPID=).
func NewNotifier(log *slog.Logger) *Notifier {
	path := os.Getenv("NOTIFY_SOCKET")
	if path == "" {
		return nil
	}
	if path[0] != '/' && path[0] != '@' {
		log.Warn("NOTIFY_SOCKET is neither a path nor an abstract socket (@name); not notifying systemd", "notify_socket", path)
		return nil
	}
	n := &Notifier{addr: &net.UnixAddr{Name: path, Net: "unixgram"}, log: log,
		queue: make(chan message, queueLen), done: make(chan struct{})}
	go n.run()
	return n
}

// Send queues state (e.g. "READY=1\nSTATUS=serving") for the service manager. It never
// blocks: with the queue full the message is dropped and logged.
func (n *Notifier) Send(state string) {
	if n != nil {
		n.enqueue(message{state: state})
	}
}

// enqueue queues m unless the Notifier is closed or its queue is full (then m is dropped and
// logged); it reports whether m was queued.
func (n *Notifier) enqueue(m message) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return false
	}
	select {
	case n.queue <- m:
		return true
	default:
		n.log.Warn("systemd notification dropped: the service manager does not read them", "state", m.state)
		return false
	}
}

// Flush waits, at most timeout, until every message queued before it was sent (or failed).
// A process that hands over to another (MAINPID=) flushes before it lets the old one go.
func (n *Notifier) Flush(timeout time.Duration) {
	if n == nil {
		return
	}
	m := message{flushed: make(chan struct{})}
	if !n.enqueue(m) {
		return
	}
	select {
	case <-m.flushed:
	case <-time.After(timeout):
	}
}

// Close stops the Notifier after sending what is queued, waiting for that at most
// closeTimeout: a receiver that does not read must not hold up the process's exit.
func (n *Notifier) Close() {
	if n == nil {
		return
	}
	n.mu.Lock()
	if !n.closed {
		n.closed = true
		close(n.queue)
	}
	n.mu.Unlock()
	select {
	case <-n.done:
	case <-time.After(closeTimeout):
	}
}

// closeTimeout bounds Close.
const closeTimeout = 2 * time.Second

// run sends the queued messages in order, one datagram each.
func (n *Notifier) run() {
	defer close(n.done)
	failing := false
	for m := range n.queue {
		if m.flushed != nil {
			close(m.flushed)
			continue
		}
		err := n.send(m.state)
		switch {
		case err != nil && !failing:
			n.log.Warn("cannot notify systemd; serving goes on", "notify_socket", n.addr.Name, "err", err)
			failing = true
		case err == nil && failing:
			n.log.Info("systemd notifications get through again", "notify_socket", n.addr.Name)
			failing = false
		}
	}
}

func (n *Notifier) send(state string) error {
	c, err := net.DialUnix("unixgram", nil, n.addr)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetWriteDeadline(time.Now().Add(sendTimeout))
	_, err = c.Write([]byte(state))
	return err
}

// Reloading is the message that starts a reload: RELOADING=1 with the CLOCK_MONOTONIC time
// in microseconds, as Type=notify-reload services must send it.
func Reloading() string {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		return "RELOADING=1"
	}
	usec := uint64(ts.Sec)*1e6 + uint64(ts.Nsec)/1e3
	return "RELOADING=1\nMONOTONIC_USEC=" + strconv.FormatUint(usec, 10)
}

// MainPID is the message a process started by a binary upgrade sends with READY=1, so that
// the service manager follows it as the main process (the unit needs NotifyAccess=all).
func MainPID(pid int) string { return "MAINPID=" + strconv.Itoa(pid) }

// Watchdog returns how often to send WATCHDOG=1: half of $WATCHDOG_USEC when it is set and
// $WATCHDOG_PID is unset or this process, else 0. A malformed value is an error (and 0).
func Watchdog() (time.Duration, error) {
	usecText, pidText := os.Getenv("WATCHDOG_USEC"), os.Getenv("WATCHDOG_PID")
	if usecText == "" {
		return 0, nil
	}
	if pidText != "" {
		pid, err := strconv.Atoi(pidText)
		if err != nil || pid <= 0 {
			return 0, fmt.Errorf("WATCHDOG_PID=%q: not a process id", pidText)
		}
		if pid != os.Getpid() {
			return 0, nil // meant for another process
		}
	}
	usec, err := strconv.ParseUint(usecText, 10, 63)
	if err != nil || usec == 0 || usec > uint64(math.MaxInt64/time.Microsecond) {
		return 0, fmt.Errorf("WATCHDOG_USEC=%q: want a positive number of microseconds", usecText)
	}
	return time.Duration(usec) * time.Microsecond / 2, nil
}
