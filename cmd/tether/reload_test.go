package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/tether-proxy/tether/internal/nginxtest"
)

// echoBackends starts n echo servers and returns their addresses.
func echoBackends(t *testing.T, n int) []string {
	t.Helper()
	var addrs []string
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				wg.Add(1)
				go func() { defer wg.Done(); io.Copy(c, c); c.Close() }()
			}
		}()
		t.Cleanup(func() { ln.Close() })
		addrs = append(addrs, ln.Addr().String())
	}
	return addrs
}

// tunnel is one long-lived client connection through tether.
type tunnel struct{ c net.Conn }

func openTunnel(addr string) (*tunnel, error) {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return nil, err
	}
	tu := &tunnel{c: c}
	return tu, tu.roundTrip()
}

// roundTrip sends a small message and expects it echoed.
func (tu *tunnel) roundTrip() error {
	tu.c.SetDeadline(time.Now().Add(5 * time.Second))
	msg := []byte("ping-" + tu.c.LocalAddr().String())
	if _, err := tu.c.Write(msg); err != nil {
		return err
	}
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(tu.c, got); err != nil {
		return err
	}
	if string(got) != string(msg) {
		return fmt.Errorf("echo %q, want %q", got, msg)
	}
	return nil
}

// churn opens short connections (one round trip each) until stop closes, counting failures.
func churn(addr string, stop <-chan struct{}, ok, failed *atomic.Int64, firstErr *atomic.Value) {
	for {
		select {
		case <-stop:
			return
		default:
		}
		tu, err := openTunnel(addr)
		if err != nil {
			failed.Add(1)
			firstErr.CompareAndSwap(nil, err.Error())
			continue
		}
		tu.c.Close()
		ok.Add(1)
	}
}

const reloadConfig = `
drain_timeout = "%s"
drain_spread = "500ms"
[admin]
listen = "%s"
[[listeners]]
name = "l"
listen = "%s"
upstream = "echo"
preamble = "none"
%s
[upstreams.echo]
balance = "%s"
servers = [%s]
`

// TestReloadKeepsEveryTunnel reloads (SIGHUP and POST /reload) repeatedly while tunnels stay
// open and new connections keep coming: no tunnel drops, no connection fails, a bad file is
// rejected and the running configuration stays, a new listener appears and a removed one stops.
func TestReloadKeepsEveryTunnel(t *testing.T) {
	t.Parallel()
	backends := echoBackends(t, 3)
	ports := nginxtest.FreePorts(t, 3)
	adminPort, port, extraPort := ports[0], ports[1], ports[2]
	quoted := func(addrs []string) string {
		q := make([]string, len(addrs))
		for i, a := range addrs {
			q[i] = strconv.Quote(a)
		}
		return strings.Join(q, ", ")
	}
	dir := t.TempDir()
	write := func(extra, balance string, servers []string) string {
		return writeFile(t, dir, "tether.toml", fmt.Sprintf(reloadConfig, "5s", loopback(adminPort), loopback(port), extra, balance, quoted(servers)))
	}
	extraListener := fmt.Sprintf("[[listeners]]\nname = \"extra\"\nlisten = \"127.0.0.1:%d\"\nupstream = \"echo\"\npreamble = \"none\"\n", extraPort)
	// extraListener must come after the first listener's keys: put it in the upstream-free slot.
	cfg := write("", "hash-consistent", backends)
	p := start(t, "run", "-c", cfg)
	p.waitOutput(t, `"msg":"admin listening"`)
	addr := fmt.Sprintf("127.0.0.1:%d", port)

	var tunnels []*tunnel
	for range 40 {
		tu, err := openTunnel(addr)
		if err != nil {
			t.Fatal(err)
		}
		defer tu.c.Close()
		tunnels = append(tunnels, tu)
	}
	stop := make(chan struct{})
	var ok, failed atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() { defer wg.Done(); churn(addr, stop, &ok, &failed, &firstErr) }()
	}

	postReload := func() (int, string) {
		resp, err := http.Post(fmt.Sprintf("http://127.0.0.1:%d/reload", adminPort), "text/plain", nil)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	steps := []struct {
		name   string
		config func()
		via    string // "hup" or "admin"
		wantOK bool
	}{
		{"weights change", func() { write("", "hash-consistent", append(backends[:2:2], backends[2]+" weight=3")) }, "hup", true},
		{"plain hash, one server fewer", func() { write("", "hash", backends[:2]) }, "admin", true},
		{"a second listener", func() {
			writeFile(t, dir, "tether.toml", fmt.Sprintf(reloadConfig, "5s", loopback(adminPort), loopback(port), "", "hash-consistent", quoted(backends))+extraListener)
		}, "hup", true},
		{"broken file", func() { writeFile(t, dir, "tether.toml", "[[listeners]]\nname = \"l\"\nlisten = \"nope\"\n") }, "admin", false},
		{"back to the start, extra listener removed", func() { write("", "hash-consistent", backends) }, "hup", true},
	}
	reloads := 0
	for _, st := range steps {
		st.config()
		switch st.via {
		case "hup":
			before := strings.Count(p.output(), "configuration reloaded")
			p.cmd.Process.Signal(syscall.SIGHUP)
			if st.wantOK {
				deadline := time.Now().Add(10 * time.Second)
				for strings.Count(p.output(), "configuration reloaded") == before {
					if time.Now().After(deadline) {
						t.Fatalf("%s: no reload logged", st.name)
					}
					time.Sleep(20 * time.Millisecond)
				}
			}
		case "admin":
			code, body := postReload()
			var r struct {
				OK    bool   `json:"ok"`
				Error string `json:"error"`
			}
			json.Unmarshal([]byte(body), &r)
			if r.OK != st.wantOK {
				t.Fatalf("%s: POST /reload %d %s", st.name, code, body)
			}
			if !st.wantOK && !strings.Contains(r.Error, "listen") {
				t.Fatalf("%s: rejection %q does not name the problem", st.name, r.Error)
			}
		}
		if st.wantOK {
			reloads++
		}
		if st.name == "a second listener" {
			if _, err := openTunnel(fmt.Sprintf("127.0.0.1:%d", extraPort)); err != nil {
				t.Fatalf("new listener after reload: %v", err)
			}
		}
		if st.name == "back to the start, extra listener removed" {
			if c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", extraPort), time.Second); err == nil {
				c.Close()
				t.Fatal("removed listener still accepts")
			}
		}
		for i, tu := range tunnels {
			if err := tu.roundTrip(); err != nil {
				t.Fatalf("after %q: tunnel %d broke: %v", st.name, i, err)
			}
		}
		time.Sleep(150 * time.Millisecond)
	}
	close(stop)
	wg.Wait()
	if failed.Load() != 0 {
		t.Fatalf("%d of %d new connections failed during reloads, first: %v", failed.Load(), failed.Load()+ok.Load(), firstErr.Load())
	}
	if ok.Load() < 50 {
		t.Fatalf("only %d new connections during the reloads; the test proves little", ok.Load())
	}
	out := p.output()
	if n := strings.Count(out, "configuration reloaded"); n != reloads {
		t.Fatalf("%d reloads logged, want %d", n, reloads)
	}
	if !strings.Contains(out, "configuration problem") {
		t.Fatal("the broken file's problems were not logged")
	}
	t.Logf("%d reloads, %d tunnels kept, %d new connections, 0 failed", reloads, len(tunnels), ok.Load())
}

// TestBinaryUpgrade: SIGUSR2 starts the binary again with the sockets; new connections never
// fail across the hand-over, old tunnels keep working during the drain, the old process exits
// 0 and the new one serves on, on the same ports: listeners on port 0 keep the port the kernel
// gave the first process.
func TestBinaryUpgrade(t *testing.T) {
	t.Parallel()
	backends := echoBackends(t, 2)
	q := []string{strconv.Quote(backends[0]), strconv.Quote(backends[1])}
	cfg := writeFile(t, t.TempDir(), "tether.toml",
		fmt.Sprintf(reloadConfig, "1s", "127.0.0.1:0", "127.0.0.1:0", "", "hash-consistent", strings.Join(q, ", ")))
	p := start(t, "run", "-c", cfg)
	adminAddr, addr := p.loggedAddr(t, "admin listening", ""), p.loggedAddr(t, "listening", "l")
	var tunnels []*tunnel
	for range 20 {
		tu, err := openTunnel(addr)
		if err != nil {
			t.Fatal(err)
		}
		defer tu.c.Close()
		tunnels = append(tunnels, tu)
	}
	stop := make(chan struct{})
	var ok, failed atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); churn(addr, stop, &ok, &failed, &firstErr) }()

	p.cmd.Process.Signal(syscall.SIGUSR2)
	p.waitOutput(t, "the new process serves")
	m := regexp.MustCompile(`the new process serves[^\n]*"pid":(\d+)`).FindStringSubmatch(p.output())
	if m == nil {
		t.Fatalf("no pid of the new process in:\n%s", p.output())
	}
	newPID, _ := strconv.Atoi(m[1])
	t.Cleanup(func() {
		syscall.Kill(newPID, syscall.SIGKILL)
		for range 100 { // wait until it is gone
			if syscall.Kill(newPID, 0) != nil {
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
	})
	for i, tu := range tunnels {
		if err := tu.roundTrip(); err != nil {
			t.Fatalf("old tunnel %d broke during the drain: %v", i, err)
		}
	}
	if code := p.wait(t); code != 0 {
		t.Fatalf("old process exit code %d", code)
	}
	time.Sleep(200 * time.Millisecond)
	close(stop)
	wg.Wait()
	if failed.Load() != 0 {
		t.Fatalf("%d of %d connections failed across the upgrade, first: %v", failed.Load(), failed.Load()+ok.Load(), firstErr.Load())
	}
	// The new process answers on the same port and the same admin socket.
	if _, err := openTunnel(addr); err != nil {
		t.Fatalf("after the old process exited: %v", err)
	}
	resp, err := http.Get("http://" + adminAddr + "/healthz")
	if err != nil {
		t.Fatalf("admin after upgrade: %v", err)
	}
	resp.Body.Close()
	if !strings.Contains(p.output(), `"reason":"drain"`) {
		t.Fatalf("old tunnels were not closed by the drain:\n%s", p.output())
	}
	t.Logf("upgrade to pid %d: %d new connections, 0 failed", newPID, ok.Load())
}

// loopback is 127.0.0.1:port.
func loopback(port int) string { return fmt.Sprintf("127.0.0.1:%d", port) }
