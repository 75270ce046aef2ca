//go:build linux

package e2e

import (
	"bufio"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// adminTether is a running tether whose configuration has an [admin] table, watched through
// the admin /metrics endpoint (goroutines, connections) and /proc/PID (fds, memory).
type adminTether struct {
	*child
	ports  []int  // the listeners' ports
	admin  string // host:port of the admin endpoint
	config string // the configuration file
	http   *http.Client
}

// startAdminTether runs binary with the configuration config returns for listeners free ports
// and one more, the admin endpoint's.
func startAdminTether(t testing.TB, binary, dir string, listeners int, config func(ports []int, admin int) string) *adminTether {
	t.Helper()
	p, ports, path := launchTether(t, binary, dir, listeners+1, listeners, func(ports []int) string {
		return config(ports[:listeners], ports[listeners])
	})
	// One kept-alive connection for every request: its socket and goroutines are the same in
	// every sample (a closed one would linger in the server for a while and blur the counts).
	tr := &http.Transport{MaxIdleConnsPerHost: 1, DisableCompression: true}
	t.Cleanup(tr.CloseIdleConnections)
	at := &adminTether{
		child: p, ports: ports[:listeners], config: path,
		admin: fmt.Sprintf("127.0.0.1:%d", ports[listeners]),
		http:  &http.Client{Transport: tr, Timeout: 10 * time.Second},
	}
	if _, err := at.metrics(); err != nil { // opens that connection before the first sample
		t.Fatal(err)
	}
	return at
}

// processSample is one look at a running tether.
type processSample struct {
	Goroutines int   // go_goroutines of /metrics (the request reading it included)
	Active     int   // tether_connections_active: connections being served
	Sockets    int   // /proc/PID/fd entries that are sockets (listeners, tunnels, admin)
	Pipes      int   // ... that are pipes (splice's pool keeps idle ones for reuse)
	OtherFDs   int   // ... anything else (epoll, eventfd, files)
	RSS        int64 // VmRSS of /proc/PID/status, bytes
	Threads    int   // OS threads (not goroutines)
}

func (s processSample) String() string {
	return fmt.Sprintf("goroutines %d, active %d, fds %d (sockets %d, pipes %d, other %d), RSS %.1f MiB, threads %d",
		s.Goroutines, s.Active, s.Sockets+s.Pipes+s.OtherFDs, s.Sockets, s.Pipes, s.OtherFDs, mib(s.RSS), s.Threads)
}

func mib(n int64) float64 { return float64(n) / (1 << 20) }

// sample reads /proc/PID first, then /metrics.
func (p *adminTether) sample(t testing.TB) processSample {
	t.Helper()
	s, err := p.trySample()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func (p *adminTether) trySample() (processSample, error) {
	var s processSample
	pid := p.cmd.Process.Pid
	dir := fmt.Sprintf("/proc/%d/fd", pid)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return s, fmt.Errorf("tether's fds: %w", err)
	}
	for _, e := range entries {
		target, err := os.Readlink(filepath.Join(dir, e.Name()))
		switch {
		case err != nil: // closed meanwhile
		case strings.HasPrefix(target, "socket:"):
			s.Sockets++
		case strings.HasPrefix(target, "pipe:"):
			s.Pipes++
		default:
			s.OtherFDs++
		}
	}
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return s, fmt.Errorf("tether's status: %w", err)
	}
	for line := range strings.Lines(string(status)) {
		f := strings.Fields(line)
		switch {
		case len(f) >= 2 && f[0] == "VmRSS:":
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			s.RSS = kb << 10
		case len(f) >= 2 && f[0] == "Threads:":
			s.Threads, _ = strconv.Atoi(f[1])
		}
	}
	m, err := p.metrics()
	if err != nil {
		return s, err
	}
	s.Goroutines, s.Active = int(m["go_goroutines"]), int(m["tether_connections_active"])
	return s, nil
}

// metrics reads the admin /metrics endpoint: value by series (name with its labels).
func (p *adminTether) metrics() (map[string]float64, error) {
	resp, err := p.http.Get("http://" + p.admin + "/metrics")
	if err != nil {
		return nil, fmt.Errorf("admin /metrics: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("admin /metrics: %s", resp.Status)
	}
	out := make(map[string]float64)
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		i := strings.LastIndexByte(line, ' ')
		if strings.HasPrefix(line, "#") || i < 0 {
			continue
		}
		if v, err := strconv.ParseFloat(line[i+1:], 64); err == nil {
			out[line[:i]] = v
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("admin /metrics: %w", err)
	}
	for _, name := range []string{"go_goroutines", "tether_connections_active"} {
		if _, ok := out[name]; !ok {
			return nil, fmt.Errorf("admin /metrics has no %s", name)
		}
	}
	return out, nil
}

// settle waits (up to limit) until tether serves no connection and has no more goroutines,
// sockets and other fds than base: what a finished test must leave behind. Pipes are not
// compared: splice's pool keeps idle pipes for reuse. It returns the last sample and whether
// tether settled.
func (p *adminTether) settle(t testing.TB, base processSample, limit time.Duration) (processSample, bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		s := p.sample(t)
		if s.Active == 0 && s.Goroutines <= base.Goroutines && s.Sockets <= base.Sockets && s.OtherFDs <= base.OtherFDs {
			return s, true
		}
		if time.Now().After(deadline) {
			return s, false
		}
		time.Sleep(100 * time.Millisecond)
	}
}
