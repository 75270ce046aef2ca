//go:build linux

package main

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"strings"
	"syscall"
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

// limitFDs sets the soft open-file limit of the running process pid to n (the hard one stays,
// so that a test can raise it again; Go raises the soft limit to the hard one only at start).
func limitFDs(t *testing.T, pid, n int) {
	t.Helper()
	var old unix.Rlimit
	if err := unix.Prlimit(pid, unix.RLIMIT_NOFILE, nil, &old); err != nil {
		t.Skipf("cannot read the child's open-file limit: %v", err)
	}
	lim := unix.Rlimit{Cur: uint64(n), Max: old.Max}
	if err := unix.Prlimit(pid, unix.RLIMIT_NOFILE, &lim, nil); err != nil {
		t.Skipf("cannot lower the child's open-file limit: %v", err)
	}
	time.Sleep(300 * time.Millisecond) // tether reads its limit again at most every 250 ms (listener.limitEvery)
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
	// fd_reserve = 0: without a reserve the shortage reaches the dial, the path pinned here.
	cfg := writeFile(t, t.TempDir(), "tether.toml", "fd_reserve = 0\n"+fmt.Sprintf(reloadConfig, "5s", loopback(adminPort), loopback(port),
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
	// two (client and backend), so within 16 descriptors a dial fails with EMFILE.
	var open []*tunnel
	refused := 0
	for range 30 {
		tu, err := openTunnel(addr)
		if err != nil {
			refused++
			break
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

// startShedding runs tether with three echo backends, fd_reserve and an admin port, and
// returns the process, its client address and its admin port after one warm-up tunnel.
func startShedding(t *testing.T, reserve int) (*process, string, int) {
	t.Helper()
	backends := echoBackends(t, 3)
	ports := nginxtest.FreePorts(t, 2)
	adminPort, port := ports[0], ports[1]
	servers := make([]string, len(backends))
	for i, b := range backends {
		servers[i] = strconv.Quote(b)
	}
	cfg := writeFile(t, t.TempDir(), "tether.toml", fmt.Sprintf("fd_reserve = %d\n", reserve)+
		fmt.Sprintf(reloadConfig, "5s", loopback(adminPort), loopback(port), "", "hash-consistent", strings.Join(servers, ", ")))
	p := start(t, "run", "-c", cfg)
	p.waitOutput(t, `"msg":"admin listening"`)
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	tu, err := openTunnel(addr) // warm up: workers, engine loops
	if err != nil {
		t.Fatal(err)
	}
	tu.c.Close()
	p.waitOutput(t, `"msg":"tunnel closed"`) // its sockets are closed: the tests count descriptors
	return p, addr, adminPort
}

// waitFDs waits (bounded) until process pid has at most n descriptors open.
func waitFDs(t *testing.T, pid, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for fdCount(t, pid) > n {
		if time.Now().After(deadline) {
			t.Fatalf("process still has %d descriptors open, want at most %d", fdCount(t, pid), n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// lowestFree returns the lowest descriptor number process pid has not open: with the open-file
// limit set to it, the process can open nothing more.
func lowestFree(t *testing.T, pid int) int {
	t.Helper()
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		t.Fatal(err)
	}
	open := map[int]bool{}
	for _, e := range ents {
		n, _ := strconv.Atoi(e.Name())
		open[n] = true
	}
	n := 0
	for open[n] {
		n++
	}
	return n
}

// TestFDReserveSheds pins issue 12 item 5 for descriptors: under a low RLIMIT_NOFILE tether
// refuses new connections at accept while fewer than fd_reserve descriptors would stay free
// (reason "fd_reserve", counted and logged), so no dial or accept runs short;
// established tunnels go on; once tunnels close, new clients are served again.
func TestFDReserveSheds(t *testing.T) {
	t.Parallel()
	p, addr, adminPort := startShedding(t, 6)
	pid := p.cmd.Process.Pid
	base := fdCount(t, pid)
	limitFDs(t, pid, base+16)

	var held []*tunnel
	refused := 0
	for range 12 {
		tu, err := openTunnel(addr)
		if err != nil {
			refused++
			continue
		}
		held = append(held, tu)
	}
	if len(held) == 0 || refused == 0 {
		t.Fatalf("%d tunnels served, %d refused under a limit of %d descriptors with fd_reserve 6 (%d open at the start); want some of each",
			len(held), refused, base+16, base)
	}
	for i, tu := range held {
		if err := tu.roundTrip(); err != nil {
			t.Fatalf("established tunnel %d broke while new ones were refused: %v", i, err)
		}
		tu.c.Close()
	}
	waitFDs(t, pid, base+1)
	var tu *tunnel
	var err error
	for range 50 { // the next count of descriptors (at most every 100 ms) sees the room
		if tu, err = openTunnel(addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("not served after the tunnels closed: %v", err)
	}
	tu.c.Close()
	p.waitOutput(t, `"msg":"connection rejected","listener":"l","reason":"fd_reserve"`)

	m := scrape(t, adminPort)
	if n := metricSum(m, regexp.MustCompile(`^tether_connections_refused_total\{.*reason="fd_reserve"`)); n < float64(refused) {
		t.Errorf("%v refusals counted for fd_reserve, want at least %d:\n%s", n, refused, m)
	}
	if n := metricSum(m, regexp.MustCompile(`^tether_connections_refused_total\{.*reason="no file descriptor"`)); n != 0 {
		t.Errorf("%v dials or accepts ran out of descriptors despite the reserve:\n%s", n, m)
	}
}

// TestAcceptWithoutDescriptors pins what tether does when accept itself fails with EMFILE
// (issue 12 item 5), which it does at once whether a client waits or not: with only its spare
// descriptor free, a waiting client is reset at once (reason "no file descriptor") instead of
// waiting for room; with none at all, the client waits in the queue while the accept loop
// backs off (a few failed accepts, not a busy loop) and is served as soon as there is room.
func TestAcceptWithoutDescriptors(t *testing.T) {
	t.Parallel()
	p, addr, adminPort := startShedding(t, 0)
	pid := p.cmd.Process.Pid

	// Full but for the spare: the client is reset.
	limitFDs(t, pid, lowestFree(t, pid))
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err == nil { // the reset may also come before Dial returns
		c.SetDeadline(time.Now().Add(5 * time.Second))
		_, err = c.Read(make([]byte, 1))
		c.Close()
	}
	if !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("client of a tether with a full descriptor table: read %v, want a reset at once", err)
	}

	// No room at all, not even the spare's: the client waits until the limit is raised.
	limitFDs(t, pid, 3)
	waiting := make(chan error, 1)
	go func() {
		tu, err := openTunnel(addr)
		if err == nil {
			tu.c.Close()
		}
		waiting <- err
	}()
	select {
	case err := <-waiting:
		t.Fatalf("a client was answered (%v) while tether could open no descriptor", err)
	case <-time.After(time.Second):
	}
	limitFDs(t, pid, 1024)
	if err := <-waiting; err != nil {
		t.Fatalf("waiting client not served once descriptors were free: %v", err)
	}

	m := scrape(t, adminPort)
	if n := metricSum(m, regexp.MustCompile(`^tether_connections_refused_total\{.*reason="no file descriptor"`)); n < 1 {
		t.Errorf("the reset client was not counted:\n%s", m)
	}
	// Backing off from 5 ms, doubling to 250 ms, makes about 10 failed accepts in the second
	// without descriptors; a spinning loop makes thousands.
	if n := metricSum(m, regexp.MustCompile(`^tether_accept_errors_total`)); n < 1 || n > 100 {
		t.Errorf("%v failed accepts, want a handful (backing off, not spinning)", n)
	}
}
