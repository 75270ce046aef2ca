package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// binary is the tether executable built once for the tests that run it as a user would.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "tether-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "tether")
	args := []string{"build", "-o", binary}
	if raceEnabled {
		args = append(args, "-race")
	}
	build := exec.Command("go", append(args, ".")...)
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "go build:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// process is a running tether command whose output the test reads. Output goes to a file, not
// a pipe: a process started by a binary upgrade inherits it, and exec would otherwise wait for
// that grandchild to close the pipe.
type process struct {
	cmd    *exec.Cmd
	out    *os.File // stdout and stderr, interleaved
	exited chan error
}

func (p *process) output() string {
	b, _ := os.ReadFile(p.out.Name())
	return string(b)
}

// start runs tether with args until the test ends.
func start(t *testing.T, args ...string) *process {
	t.Helper()
	return startCmd(t, exec.Command(binary, args...))
}

// startCmd is start for a command the test prepared (environment, inherited files, a shell
// that execs tether); its output goes to the process's output file.
func startCmd(t *testing.T, cmd *exec.Cmd) *process {
	t.Helper()
	args := cmd.Args[1:]
	out, err := os.Create(filepath.Join(t.TempDir(), "output"))
	if err != nil {
		t.Fatal(err)
	}
	p := &process{cmd: cmd, out: out, exited: make(chan error, 1)}
	p.cmd.Stdout, p.cmd.Stderr = out, out
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.exited <- p.cmd.Wait() }()
	t.Cleanup(func() {
		p.cmd.Process.Kill()
		<-p.exited
		if t.Failed() {
			t.Logf("tether %s output:\n%s", strings.Join(args, " "), p.output())
		}
		out.Close()
	})
	return p
}

// waitOutput waits (bounded) until the output contains sub.
func (p *process) waitOutput(t *testing.T, sub string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !strings.Contains(p.output(), sub) {
		select {
		case err := <-p.exited:
			p.exited <- err
			if strings.Contains(p.output(), sub) { // printed just before exiting
				return
			}
			t.Fatalf("tether exited (%v) before printing %q:\n%s", err, sub, p.output())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("tether never printed %q:\n%s", sub, p.output())
		}
	}
}

// waitCount waits (bounded) until the output contains sub n times.
func (p *process) waitCount(t *testing.T, sub string, n int) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for strings.Count(p.output(), sub) < n {
		if time.Now().After(deadline) {
			t.Fatalf("tether printed %q %d times, not %d:\n%s", sub, strings.Count(p.output(), sub), n, p.output())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// wait waits (bounded) for the process to exit and returns its exit code.
func (p *process) wait(t *testing.T) int {
	t.Helper()
	select {
	case err := <-p.exited:
		p.exited <- err
		if ee, ok := err.(*exec.ExitError); ok {
			return ee.ExitCode()
		}
		if err != nil {
			t.Fatal(err)
		}
		return 0
	case <-time.After(20 * time.Second):
		t.Fatalf("tether did not exit:\n%s", p.output())
		return -1
	}
}

// runTether runs tether to completion with stdin and returns its exit code, stdout and stderr.
func runTether(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return code, stdout.String(), stderr.String()
}

// writeFile writes content to name in dir and returns the path.
func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// loggedAddr waits (bounded) for the first JSON log line with "msg":msg and, when listener is
// not empty, "listener":listener, and returns its "addr": the address tether bound, so a test
// can configure port 0 and read the port back instead of guessing a free one.
func (p *process) loggedAddr(t *testing.T, msg, listener string) string {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		for _, line := range strings.Split(p.output(), "\n") {
			var rec struct{ Msg, Listener, Addr string }
			if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == msg && rec.Listener == listener && rec.Addr != "" {
				return rec.Addr
			}
		}
		select {
		case err := <-p.exited:
			p.exited <- err
			t.Fatalf("tether exited (%v) before logging %q for %q:\n%s", err, msg, listener, p.output())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("tether never logged %q for %q:\n%s", msg, listener, p.output())
		}
	}
}
