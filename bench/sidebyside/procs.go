package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// child is a process the harness started, alone in its own process group so that it and
// anything it forks are killed together.
type child struct {
	name string
	cmd  *exec.Cmd
	log  string        // file with its stdout and stderr ("" when the caller took stdout)
	done chan struct{} // closed once it exited and was reaped
	err  error         // its exit status, valid after done
}

// children are all processes started and not yet reaped: killAll ends them on exit.
var children struct {
	sync.Mutex
	set map[*child]struct{}
}

// startChild starts argv in a new process group with env added to the harness's environment.
// Its stdout and stderr go to logPath, or, when stdout is non-nil, stdout gets a pipe of its
// standard output (stderr still goes to logPath). Its stdin is a pipe that the harness never
// writes: the child sees EOF when the harness dies, however it dies.
func startChild(name, logPath string, env []string, stdout *io.ReadCloser, argv ...string) (*child, error) {
	lf, err := os.Create(logPath)
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	defer lf.Close()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), env...)
	cmd.SysProcAttr = childProcAttr()
	cmd.Stderr = lf
	if stdout != nil {
		if *stdout, err = cmd.StdoutPipe(); err != nil {
			return nil, fmt.Errorf("start %s: %w", name, err)
		}
	} else {
		cmd.Stdout = lf
	}
	// An open, never written stdin: EOF there tells our own helper processes to exit.
	if _, err := cmd.StdinPipe(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	c := &child{name: name, cmd: cmd, log: logPath, done: make(chan struct{})}
	children.Lock()
	defer children.Unlock()
	if children.set == nil {
		children.set = make(map[*child]struct{})
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s (%s): %w", name, strings.Join(argv, " "), err)
	}
	children.set[c] = struct{}{}
	go func() {
		c.err = cmd.Wait()
		children.Lock()
		delete(children.set, c)
		children.Unlock()
		close(c.done)
	}()
	return c, nil
}

// pid returns the child's process id.
func (c *child) pid() int { return c.cmd.Process.Pid }

// exited reports whether the child has exited.
func (c *child) exited() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// stop kills the child's whole process group and waits (bounded) until it is reaped.
func (c *child) stop() error {
	if c.exited() {
		return nil
	}
	// The group id is the child's pid (Setpgid with Pgid 0).
	if err := syscall.Kill(-c.pid(), syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("kill %s (pgid %d): %w", c.name, c.pid(), err)
	}
	select {
	case <-c.done:
		return nil
	case <-time.After(10 * time.Second):
		return fmt.Errorf("%s (pid %d) did not exit 10s after SIGKILL", c.name, c.pid())
	}
}

// logTail returns the last lines of the child's log, for error messages.
func (c *child) logTail() string {
	b, err := os.ReadFile(c.log)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > 15 {
		lines = lines[len(lines)-15:]
	}
	return strings.Join(lines, "\n")
}

// killAll stops every child still running; it is safe to call more than once.
func killAll() {
	children.Lock()
	var all []*child
	for c := range children.set {
		all = append(all, c)
	}
	children.Unlock()
	for _, c := range all {
		if err := c.stop(); err != nil {
			fmt.Fprintln(os.Stderr, "sidebyside:", err)
		}
	}
}
