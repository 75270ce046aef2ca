package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// syscallPrefix starts the metric names of the per-system-call counts of the syscalls test
// ("sys:accept4"), per connection.
const syscallPrefix = "sys:"

// straceCounts is the summary `strace -c` writes: calls and errors by system call, and the
// total line.
type straceCounts struct {
	Calls, Errors map[string]int64
	Total, Failed int64
}

// parseStraceSummary parses the table of `strace -c` (strace 5 and 6):
//
//	% time     seconds  usecs/call     calls    errors syscall
//	------ ----------- ----------- --------- --------- ----------------
//	 52.63    0.000100           2        50           epoll_wait
//	 ...
//	------ ----------- ----------- --------- --------- ----------------
//	100.00    0.000190           1       120        10 total
//
// The errors column is empty for a call that never failed. A table without its total line is
// an error: strace was cut off.
func parseStraceSummary(text string) (straceCounts, error) {
	c := straceCounts{Calls: map[string]int64{}, Errors: map[string]int64{}}
	total := false
	for line := range strings.Lines(text) {
		f := strings.Fields(line)
		if len(f) < 5 || len(f) > 6 {
			continue
		}
		if _, err := strconv.ParseFloat(f[0], 64); err != nil {
			continue // the header, a ruler or strace's own messages
		}
		calls, err := strconv.ParseInt(f[3], 10, 64)
		if err != nil || calls < 0 {
			return straceCounts{}, fmt.Errorf("strace summary: bad calls in %q", strings.TrimSpace(line))
		}
		var errs int64
		if len(f) == 6 {
			if errs, err = strconv.ParseInt(f[4], 10, 64); err != nil || errs < 0 {
				return straceCounts{}, fmt.Errorf("strace summary: bad errors in %q", strings.TrimSpace(line))
			}
		}
		name := f[len(f)-1]
		if name == "total" {
			c.Total, c.Failed, total = calls, errs, true
			continue
		}
		c.Calls[name] += calls
		c.Errors[name] += errs
	}
	if !total {
		return straceCounts{}, errors.New("strace summary: no total line")
	}
	return c, nil
}

// syscallConns is how many connections the syscalls test traces (-quick: a third).
const syscallConns = 1500

// runSyscalls counts the system calls of the proxy pid per connection through t (plain or TLS): `strace
// -c -f` is attached to it (every thread), n connections (connect, echo 4 bytes, close) go
// through, workers at a time, and strace is detached; its total ÷ n is mSyscalls, and each
// system call's count ÷ n is syscallPrefix+name. The proxy's own idle wake-ups during those
// seconds count too (a few per second: nothing against n × 15).
func runSyscalls(ctx context.Context, t target, pid, n, workers int) (metrics, error) {
	if pid == 0 {
		return nil, errors.New("no proxy process to trace")
	}
	strace, err := exec.LookPath("strace")
	if err != nil {
		return nil, errors.New("strace is not installed: apt-get install strace")
	}
	out, err := os.CreateTemp("", "sidebyside-strace-*.txt")
	if err != nil {
		return nil, err
	}
	out.Close()
	defer os.Remove(out.Name())
	cmd := exec.CommandContext(ctx, strace, "-c", "-f", "-p", strconv.Itoa(pid), "-o", out.Name())
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start strace: %w", err)
	}
	detached := false
	defer func() {
		if !detached {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	}()
	if err := awaitAttached(stderr, 10*time.Second); err != nil {
		return nil, err
	}
	if err := forEach(ctx, n, workers, func(int) error {
		_, err := echoOnce(ctx, t, []byte("ping"))
		return err
	}); err != nil {
		return nil, fmt.Errorf("connections under strace: %w", err)
	}
	// SIGINT detaches strace, which then writes its summary.
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		return nil, fmt.Errorf("stop strace: %w", err)
	}
	detached = true
	if err := cmd.Wait(); err != nil && ctx.Err() != nil {
		return nil, ctx.Err()
	}
	text, err := os.ReadFile(out.Name())
	if err != nil {
		return nil, err
	}
	counts, err := parseStraceSummary(string(text))
	if err != nil {
		return nil, fmt.Errorf("%w:\n%s", err, text)
	}
	m := metrics{mSyscalls: float64(counts.Total) / float64(n)}
	for name, calls := range counts.Calls {
		m[syscallPrefix+name] = float64(calls) / float64(n)
	}
	return m, nil
}

// awaitAttached reads strace's stderr until it says it attached ("Process N attached"), then
// keeps draining it in the background.
func awaitAttached(stderr interface{ Read([]byte) (int, error) }, timeout time.Duration) error {
	lines := make(chan string, 256)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			default: // nobody listens any more
			}
		}
		close(lines)
	}()
	deadline := time.After(timeout)
	var said []string
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				return fmt.Errorf("strace did not attach: %s", strings.Join(said, "; "))
			}
			if strings.Contains(l, "attached") {
				return nil
			}
			said = append(said, l)
		case <-deadline:
			return fmt.Errorf("strace did not attach within %v: %s", timeout, strings.Join(said, "; "))
		}
	}
}
