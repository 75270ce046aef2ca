package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tether-proxy/tether/internal/nginxtest"
)

// child is an external program a test started. Its stdout and stderr go to one file the test
// reads at any time; it runs in a process group of its own, killed when the test ends.
type child struct {
	name   string
	cmd    *exec.Cmd
	out    *os.File
	exited chan struct{} // closed once cmd.Wait returned; err is set then
	err    error
}

// startChild starts cmd as name. Cleanup kills its process group (programs like Chromium
// start helpers of their own) and, when the test failed, logs the end of its output.
func startChild(t testing.TB, name string, cmd *exec.Cmd) *child {
	t.Helper()
	out, err := os.Create(filepath.Join(t.TempDir(), name+".log"))
	if err != nil {
		t.Fatal(err)
	}
	c := &child{name: name, cmd: cmd, out: out, exited: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		out.Close()
		t.Fatalf("start %s: %v", name, err)
	}
	go func() {
		c.err = cmd.Wait()
		close(c.exited)
	}()
	t.Cleanup(func() {
		c.stop()
		if t.Failed() {
			t.Logf("%s output (end):\n%s", name, tail(c.output(), 4000))
		}
		out.Close()
	})
	return c
}

// stop kills the child's process group and waits (bounded) for the child to exit.
func (c *child) stop() {
	select {
	case <-c.exited: // reaped: its process group id may belong to someone else by now
		return
	default:
	}
	_ = syscall.Kill(-c.cmd.Process.Pid, syscall.SIGKILL)
	select {
	case <-c.exited:
	case <-time.After(10 * time.Second):
	}
}

// output returns everything the child printed so far.
func (c *child) output() string {
	b, _ := os.ReadFile(c.out.Name())
	return string(b)
}

// waitFor waits until the child's output contains sub. It fails when the child exits first or
// sub does not show up within limit.
func (c *child) waitFor(t testing.TB, sub string, limit time.Duration) {
	t.Helper()
	if err := c.waitUntil(sub, func(out string) bool { return strings.Contains(out, sub) }, limit); err != nil {
		t.Fatal(err)
	}
}

// waitUntil waits until done(output) holds, and returns an error when the child exits first or
// limit passes; what describes the awaited output.
func (c *child) waitUntil(what string, done func(output string) bool, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for !done(c.output()) {
		select {
		case <-c.exited:
			if done(c.output()) {
				return nil
			}
			return fmt.Errorf("%s exited (%v) before printing %s:\n%s", c.name, c.err, what, tail(c.output(), 4000))
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s did not print %s within %v:\n%s", c.name, what, limit, tail(c.output(), 4000))
		}
	}
	return nil
}

// startOnFreePorts starts the program command builds for n ports that were free on 127.0.0.1 a
// moment before, and waits until ready(output) holds (what describes it). Another process may
// take a port in between: when the program exits saying so, it retries with new ports, three
// times at most.
func startOnFreePorts(t testing.TB, name string, n int, command func(ports []int) *exec.Cmd,
	what string, ready func(output string) bool) (*child, []int) {
	t.Helper()
	for attempt := 1; ; attempt++ {
		ports := nginxtest.FreePorts(t, n)
		c := startChild(t, name, command(ports))
		err := c.waitUntil(what, ready, 30*time.Second)
		if err == nil {
			return c, ports
		}
		out := strings.ToLower(c.output())
		inUse := strings.Contains(out, "address already in use") || strings.Contains(out, "eaddrinuse")
		if attempt < 3 && inUse {
			t.Logf("%s: a port was taken meanwhile, retrying", name)
			continue
		}
		t.Fatal(err)
	}
}

// tail returns the last n bytes of s.
func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "..." + s[len(s)-n:]
}
