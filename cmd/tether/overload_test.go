package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tether-proxy/tether/internal/nginxtest"
)

// fdCount returns the number of open file descriptors of process pid.
func fdCount(t *testing.T, pid int) int {
	t.Helper()
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

// limitFDs sets the open-file limit (soft and hard) of the running process pid to n.
func limitFDs(t *testing.T, pid, n int) {
	t.Helper()
	lim := unix.Rlimit{Cur: uint64(n), Max: uint64(n)}
	if err := unix.Prlimit(pid, unix.RLIMIT_NOFILE, &lim, nil); err != nil {
		t.Skipf("cannot lower the child's open-file limit: %v", err)
	}
}

// scrape returns the admin /metrics text.
func scrape(t *testing.T, adminPort int) string {
	t.Helper()
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/metrics", adminPort))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// metricSum adds up every sample of the metrics text whose line matches re.
func metricSum(text string, re *regexp.Regexp) float64 {
	var sum float64
	for _, line := range strings.Split(text, "\n") {
		if strings.HasPrefix(line, "#") || !re.MatchString(line) {
			continue
		}
		f := strings.Fields(line)
		v, _ := strconv.ParseFloat(f[len(f)-1], 64)
		sum += v
	}
	return sum
}

// TestFDShortageBlamesNoBackend pins issue 10 item 2: tether out of file descriptors (a low
// RLIMIT_NOFILE set on the running process) refuses the clients it cannot dial for with reason
// "no file descriptor", marks no backend failed, and serves every client again as soon as
// descriptors are free. On 5922e7c each EMFILE dial counted against its backend (max_fails = 1),
// all three backends were marked failed and every client got "no backend" for fail_timeout (10s).
func TestFDShortageBlamesNoBackend(t *testing.T) {
	t.Parallel()
	backends := echoBackends(t, 3)
	ports := nginxtest.FreePorts(t, 2)
	adminPort, port := ports[0], ports[1]
	servers := make([]string, len(backends))
	for i, b := range backends {
		servers[i] = strconv.Quote(b)
	}
	cfg := writeFile(t, t.TempDir(), "tether.toml", fmt.Sprintf(reloadConfig, "5s", adminPort, port,
		"", "hash-consistent", strings.Join(servers, ", ")))
	p := start(t, "run", "-c", cfg)
	p.waitOutput(t, `"msg":"admin listening"`)
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	if tu, err := openTunnel(addr); err != nil { // warm up: workers, engine loops
		t.Fatal(err)
	} else {
		tu.c.Close()
	}
	pid := p.cmd.Process.Pid
	base := fdCount(t, pid)
	limitFDs(t, pid, base+16)

	// Open tunnels one after another until tether runs out of descriptors: each tunnel holds
	// two (client and backend), so within 16 descriptors dials start failing with EMFILE.
	var open []*tunnel
	refused := 0
	for range 30 {
		tu, err := openTunnel(addr)
		if err != nil {
			refused++
			continue
		}
		open = append(open, tu)
	}
	if refused == 0 {
		t.Fatalf("all 30 tunnels opened under a limit of %d descriptors (base %d)", base+16, base)
	}
	for _, tu := range open {
		tu.c.Close()
	}
	// Descriptors free again: every new client is served at once, by its own backend.
	deadline := time.Now().Add(5 * time.Second)
	for fdCount(t, pid) > base+2 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	for i := range 5 {
		tu, err := openTunnel(addr)
		if err != nil {
			t.Fatalf("client %d after descriptors were freed: %v", i, err)
		}
		tu.c.Close()
	}
	m := scrape(t, adminPort)
	if n := metricSum(m, regexp.MustCompile(`^tether_connections_refused_total\{.*reason="no file descriptor"`)); n == 0 {
		t.Errorf("no refusal counted with reason \"no file descriptor\":\n%s", m)
	}
	if n := metricSum(m, regexp.MustCompile(`^tether_backend_fails\{`)); n != 0 {
		t.Errorf("backends blamed for tether's own descriptor shortage (fails %v):\n%s", n, m)
	}
	if strings.Contains(p.output(), "%!") {
		t.Errorf("a log line has a formatting error:\n%s", p.output())
	}
}
