//go:build linux

package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// child is a process the soak started, in a process group of its own; its output goes to a
// file the soak reads.
type child struct {
	name   string
	cmd    *exec.Cmd
	out    string // path of its stdout and stderr
	exited chan struct{}
	err    error
}

// children are every process the soak started, killed (as groups) when it ends.
type children struct {
	mu   sync.Mutex
	list []*child
}

// start runs cmd as name with its output in dir.
func (k *children) start(dir, name string, cmd *exec.Cmd) (*child, error) {
	out := filepath.Join(dir, name+".log")
	f, err := os.Create(out)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	c := &child{name: name, cmd: cmd, out: out, exited: make(chan struct{})}
	go func() { c.err = cmd.Wait(); close(c.exited) }()
	k.mu.Lock()
	k.list = append(k.list, c)
	k.mu.Unlock()
	return c, nil
}

// stop kills c's process group and waits for c.
func (c *child) stop() {
	select {
	case <-c.exited:
		return
	default:
	}
	syscall.Kill(-c.cmd.Process.Pid, syscall.SIGKILL)
	select {
	case <-c.exited:
	case <-time.After(10 * time.Second):
	}
}

func (k *children) killAll() {
	k.mu.Lock()
	defer k.mu.Unlock()
	for _, c := range k.list {
		c.stop()
	}
}

// output returns what c printed so far.
func (c *child) output() string {
	b, _ := os.ReadFile(c.out)
	return string(b)
}

// event is one JSON progress line of wspeer (e2e/wspeer): "listening" from echo backends;
// "ramped", "tick", "swept", "done" from clients.
type event struct {
	Event  string   `json:"event"`
	Addr   string   `json:"addr"`
	Open   int      `json:"open"`
	Failed int      `json:"failed"`
	Lost   int      `json:"lost"`
	Echoes int64    `json:"echoes"`
	Errors []string `json:"errors"`
}

// last returns c's last progress line of kind name.
func (c *child) last(name string) (event, bool) {
	var found event
	ok := false
	sc := bufio.NewScanner(strings.NewReader(c.output()))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		var e event
		if bytes.HasPrefix(sc.Bytes(), []byte("{")) && json.Unmarshal(sc.Bytes(), &e) == nil && e.Event == name {
			found, ok = e, true
		}
	}
	return found, ok
}

// await waits until c printed event name, c exits, ctx ends or limit passes.
func (c *child) await(ctx context.Context, name string, limit time.Duration) (event, error) {
	deadline := time.Now().Add(limit)
	for {
		if e, ok := c.last(name); ok {
			return e, nil
		}
		select {
		case <-c.exited:
			if e, ok := c.last(name); ok {
				return e, nil
			}
			return event{}, fmt.Errorf("%s exited (%v) before %q:\n%s", c.name, c.err, name, tail(c.output()))
		case <-ctx.Done():
			return event{}, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return event{}, fmt.Errorf("%s: no %q within %v:\n%s", c.name, name, limit, tail(c.output()))
		}
	}
}

func tail(s string) string {
	if len(s) > 3000 {
		return "..." + s[len(s)-3000:]
	}
	return s
}

// usage is what a set of processes held at one moment.
type usage struct {
	rss int64         // resident memory, bytes
	fds int           // open file descriptors
	cpu time.Duration // user+system CPU since they started
	at  time.Time
}

// measure sums the usage of pids and of their children (nginx's workers), read from /proc.
func measure(pids []int) (usage, error) {
	u := usage{at: time.Now()}
	for _, pid := range withChildren(pids) {
		status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
		if err != nil {
			return usage{}, err
		}
		rss, err := statusKB(status, "VmRSS:")
		if err != nil {
			return usage{}, fmt.Errorf("pid %d: %w", pid, err)
		}
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			return usage{}, err
		}
		cpu, err := statCPU(stat)
		if err != nil {
			return usage{}, fmt.Errorf("pid %d: %w", pid, err)
		}
		fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
		if err != nil {
			return usage{}, err
		}
		u.rss += rss
		u.cpu += cpu
		u.fds += len(fds)
	}
	return u, nil
}

// withChildren returns pids and the processes whose parent is one of them.
func withChildren(pids []int) []int {
	out := append([]int(nil), pids...)
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue
		}
		if ppid, ok := statField(stat, 4); ok {
			for _, p := range pids {
				if ppid == strconv.Itoa(p) {
					out = append(out, pid)
				}
			}
		}
	}
	return out
}

// statField returns field n (1-based, proc(5)) of /proc/PID/stat; the command name (field 2)
// may hold spaces and parentheses, so fields are counted from the last ')'.
func statField(stat []byte, n int) (string, bool) {
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 || n < 3 {
		return "", false
	}
	f := strings.Fields(string(stat[i+1:]))
	if n-3 >= len(f) {
		return "", false
	}
	return f[n-3], true
}

// statCPU is utime+stime (fields 14 and 15, in USER_HZ = 100 ticks a second).
func statCPU(stat []byte) (time.Duration, error) {
	var total int64
	for _, n := range []int{14, 15} {
		s, ok := statField(stat, n)
		v, err := strconv.ParseInt(s, 10, 64)
		if !ok || err != nil || v < 0 {
			return 0, fmt.Errorf("/proc/PID/stat field %d: %q", n, s)
		}
		total += v
	}
	return time.Duration(total) * 10 * time.Millisecond, nil
}

// statusKB reads a "Key:   1234 kB" line of /proc/PID/status, in bytes.
func statusKB(status []byte, key string) (int64, error) {
	for line := range strings.Lines(string(status)) {
		if rest, ok := strings.CutPrefix(line, key); ok {
			f := strings.Fields(rest)
			if len(f) != 2 || f[1] != "kB" {
				break
			}
			v, err := strconv.ParseInt(f[0], 10, 64)
			if err != nil || v < 0 {
				break
			}
			return v << 10, nil
		}
	}
	return 0, fmt.Errorf("no %s line in kB", key)
}
