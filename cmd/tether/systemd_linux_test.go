package main

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// notification is one datagram tether sent to $NOTIFY_SOCKET, with the sender's pid (from
// SCM_CREDENTIALS, as systemd reads it).
type notification struct {
	pid   int
	state string
}

// notifySocket is a real unixgram socket standing in for systemd's notify socket.
type notifySocket struct {
	conn *net.UnixConn
	msgs chan notification
}

// listenNotify binds a unixgram socket at name (a path, or "@name" for an abstract one) with
// SO_PASSCRED, and collects what arrives until the test ends.
func listenNotify(t *testing.T, name string) *notifySocket {
	t.Helper()
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: name, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	rc, err := conn.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	rc.Control(func(fd uintptr) { err = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_PASSCRED, 1) })
	if err != nil {
		t.Fatal(err)
	}
	ns := &notifySocket{conn: conn, msgs: make(chan notification, 256)}
	go func() {
		buf, oob := make([]byte, 4096), make([]byte, 256)
		for {
			n, oobn, _, _, err := conn.ReadMsgUnix(buf, oob)
			if err != nil {
				return
			}
			pid := 0
			if cms, err := unix.ParseSocketControlMessage(oob[:oobn]); err == nil && len(cms) > 0 {
				if cred, err := unix.ParseUnixCredentials(&cms[0]); err == nil {
					pid = int(cred.Pid)
				}
			}
			ns.msgs <- notification{pid: pid, state: string(buf[:n])}
		}
	}()
	return ns
}

// next returns the next notification that says more than WATCHDOG=1 and STATUS= (those come
// on their own at any time), bounded in time. It counts the watchdog pings it skips by pid.
func (ns *notifySocket) next(t *testing.T, pings map[int]int) notification {
	t.Helper()
	return ns.until(t, pings, func() bool { return false })
}

// waitPings waits until n more pings came from pid; any other notification fails the test.
func (ns *notifySocket) waitPings(t *testing.T, pings map[int]int, pid, n int) {
	t.Helper()
	want := pings[pid] + n
	if m := ns.until(t, pings, func() bool { return pings[pid] >= want }); m.state != "" {
		t.Fatalf("waiting for pings from %d: unexpected %q from %d", pid, m.state, m.pid)
	}
}

// until reads notifications until one is more than routine (returned) or done reports true
// after a routine one (the zero notification is returned).
func (ns *notifySocket) until(t *testing.T, pings map[int]int, done func() bool) notification {
	t.Helper()
	deadline := time.After(15 * time.Second)
	for {
		select {
		case m := <-ns.msgs:
			routine := true
			for _, line := range strings.Split(m.state, "\n") {
				switch {
				case line == "WATCHDOG=1":
					pings[m.pid]++
				case strings.HasPrefix(line, "STATUS="):
				default:
					routine = false
				}
			}
			if !routine {
				return m
			}
			if done() {
				return notification{}
			}
		case <-deadline:
			t.Fatal("no notification from tether within 15s")
		}
	}
}

// expect checks that m was sent by pid and that its lines match the patterns, in order.
func (m notification) expect(t *testing.T, step string, pid int, patterns ...string) {
	t.Helper()
	lines := strings.Split(m.state, "\n")
	ok := m.pid == pid && len(lines) == len(patterns)
	for i := 0; ok && i < len(lines); i++ {
		ok = regexp.MustCompile("^" + patterns[i] + "$").MatchString(lines[i])
	}
	if !ok {
		t.Fatalf("%s: got %q from pid %d, want lines %q from pid %d", step, m.state, m.pid, patterns, pid)
	}
}

// monotonicUsec is CLOCK_MONOTONIC in microseconds, as MONOTONIC_USEC= carries it.
func monotonicUsec(t *testing.T) uint64 {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		t.Fatal(err)
	}
	return uint64(ts.Sec)*1e6 + uint64(ts.Nsec)/1e3
}

// TestSystemdNotify runs tether as systemd runs a Type=notify service (NOTIFY_SOCKET on a
// real unixgram socket, NotifyAccess=all, a watchdog) through start, reload, binary upgrade
// and drain, and checks the messages in order and who sent them: READY=1 once serving;
// RELOADING=1 with MONOTONIC_USEC then READY=1 on SIGHUP; on SIGUSR2 the old process's
// RELOADING=1 and the new process's MAINPID=<its pid> with READY=1 (and nothing more from
// the old one, which drains and exits); STOPPING=1 on SIGTERM; WATCHDOG=1 pings from whichever
// process is the main one. An abstract socket (@name) works like a path.
func TestSystemdNotify(t *testing.T) {
	t.Parallel()
	for _, abstract := range []bool{false, true} {
		t.Run(fmt.Sprintf("abstract=%t", abstract), func(t *testing.T) {
			name := filepath.Join(t.TempDir(), "notify")
			if abstract {
				name = fmt.Sprintf("@tether-test-%d-%d", os.Getpid(), time.Now().UnixNano())
			}
			ns := listenNotify(t, name)
			backends := echoBackends(t, 1)
			cfg := writeFile(t, t.TempDir(), "tether.toml", fmt.Sprintf(`
drain_timeout = "1s"
[[listeners]]
name = "l"
listen = "127.0.0.1:0"
upstream = "echo"
preamble = "none"
[upstreams.echo]
servers = [%q]
`, backends[0]))
			cmd := exec.Command(binary, "run", "-c", cfg)
			cmd.Env = append(os.Environ(), "NOTIFY_SOCKET="+name, "WATCHDOG_USEC=200000")
			p := startCmd(t, cmd)
			pid := p.cmd.Process.Pid
			pings := map[int]int{}
			ns.next(t, pings).expect(t, "start", pid, "READY=1", `STATUS=serving; listeners 1, connections open 0`)
			ns.waitPings(t, pings, pid, 2) // every WATCHDOG_USEC/2

			before := monotonicUsec(t)
			p.cmd.Process.Signal(syscall.SIGHUP)
			m := ns.next(t, pings)
			m.expect(t, "reload", pid, "RELOADING=1", `MONOTONIC_USEC=\d+`)
			usec, _ := strconv.ParseUint(strings.TrimPrefix(strings.Split(m.state, "\n")[1], "MONOTONIC_USEC="), 10, 64)
			if after := monotonicUsec(t); usec < before || usec > after {
				t.Fatalf("MONOTONIC_USEC=%d, not between %d and %d", usec, before, after)
			}
			ns.next(t, pings).expect(t, "reloaded", pid, "READY=1", `STATUS=serving; .*`)

			p.cmd.Process.Signal(syscall.SIGUSR2)
			ns.next(t, pings).expect(t, "upgrade", pid, "RELOADING=1", `MONOTONIC_USEC=\d+`)
			m = ns.next(t, pings)
			newPID, _ := strconv.Atoi(strings.TrimPrefix(strings.Split(m.state, "\n")[0], "MAINPID="))
			if newPID <= 0 {
				t.Fatalf("new process: got %q from pid %d, want MAINPID=", m.state, m.pid)
			}
			t.Cleanup(func() { killAndWait(newPID) })
			m.expect(t, "new process", newPID, "MAINPID="+strconv.Itoa(newPID), "READY=1", `STATUS=serving; .*`)
			if newPID == pid {
				t.Fatal("the new process has the old pid")
			}
			if code := p.wait(t); code != 0 {
				t.Fatalf("old process exit code %d", code)
			}
			ns.waitPings(t, pings, newPID, 2) // the new main process keeps the watchdog fed

			syscall.Kill(newPID, syscall.SIGTERM)
			ns.next(t, pings).expect(t, "drain", newPID, "STOPPING=1", `STATUS=draining; .*`)
		})
	}
}

// killAndWait sends SIGKILL to a process that is not our child and waits (bounded) until it
// is gone.
func killAndWait(pid int) {
	if pid <= 0 {
		return // 0 and -1 would signal our process group, or every process
	}
	syscall.Kill(pid, syscall.SIGKILL)
	for range 250 {
		if syscall.Kill(pid, 0) != nil {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestSystemdNotifyNowhere: a NOTIFY_SOCKET that names no socket, or a socket nobody reads
// (its queue fills after a few datagrams), never blocks or stops tether: every reload is
// carried out and connections are served.
func TestSystemdNotifyNowhere(t *testing.T) {
	t.Parallel()
	deaf := filepath.Join(t.TempDir(), "deaf")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: deaf, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close() // bound, never read
	for _, target := range []string{filepath.Join(t.TempDir(), "nothing-here"), deaf} {
		t.Run(filepath.Base(target), func(t *testing.T) {
			backends := echoBackends(t, 1)
			cfg := writeFile(t, t.TempDir(), "tether.toml", fmt.Sprintf(`
[[listeners]]
name = "l"
listen = "127.0.0.1:0"
upstream = "echo"
preamble = "none"
[upstreams.echo]
servers = [%q]
`, backends[0]))
			cmd := exec.Command(binary, "run", "-c", cfg)
			cmd.Env = append(os.Environ(), "NOTIFY_SOCKET="+target, "WATCHDOG_USEC=50000")
			p := startCmd(t, cmd)
			addr := p.loggedAddr(t, "listening", "l")
			const reloads = 30
			for i := range reloads {
				p.cmd.Process.Signal(syscall.SIGHUP)
				p.waitCount(t, `"msg":"configuration reloaded"`, i+1)
			}
			tu, err := openTunnel(addr)
			if err != nil {
				t.Fatal(err)
			}
			defer tu.c.Close()
			if err := tu.roundTrip(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// activationFile is a descriptor the test passes as systemd would: a listening socket the test
// bound (and keeps open, so tether cannot bind that address itself), or any other file.
func listeningFile(t *testing.T) (*os.File, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	f, err := ln.(*net.TCPListener).File()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f, ln.Addr().String()
}

// TestSocketActivation starts tether exactly as systemd does with a tether.socket unit: the
// sockets as descriptors 3, 4, ... and LISTEN_FDS, LISTEN_FDNAMES and LISTEN_PID (the pid
// of the process after exec, here through `sh -c 'LISTEN_PID=$$ exec tether ...'`). The
// addresses stay bound by the test, so tether serves on them only by taking the descriptors.
// Malformed variables and descriptors are reported, and tether binds by itself, or refuses to
// start with a clear message where the address is taken.
func TestSocketActivation(t *testing.T) {
	t.Parallel()
	backends := echoBackends(t, 1)
	notSocket, err := os.Open(binary)
	if err != nil {
		t.Fatal(err)
	}
	defer notSocket.Close()
	tests := []struct {
		name     string
		files    int    // listening sockets passed (descriptors 3, 4, ...), before extra
		extra    bool   // also pass a regular file after them
		fds      string // LISTEN_FDS ("" : the number of descriptors)
		names    string // LISTEN_FDNAMES
		pid      string // LISTEN_PID ("" : the right one)
		listen   string // "held": the addresses of the passed sockets; else a listen address
		wantExit bool
		want     []string // log lines, in order
	}{
		{name: "listener and admin by address", files: 2, names: "web:admin", listen: "held",
			want: []string{`"msg":"socket activation: listening on the socket from systemd","listener":"l","name":"web"`,
				`"msg":"socket activation: listening on the socket from systemd","listener":"admin","name":"admin"`}},
		{name: "no names", files: 1, listen: "held",
			want: []string{`"msg":"socket activation: listening on the socket from systemd","listener":"l","name":""`}},
		{name: "a regular file among them", files: 1, extra: true, fds: "2", names: "web:junk", listen: "held",
			want: []string{`socket activation: ignoring`, `descriptor 4 (\"junk\"): not a socket`,
				`"msg":"socket activation: listening on the socket from systemd","listener":"l"`}},
		{name: "socket of no listener", files: 1, names: "stray", listen: "127.0.0.1:0",
			want: []string{`"msg":"socket activation: a socket from systemd matches no listener's address; closed","name":"stray"`, `"msg":"listening"`}},
		{name: "another process's sockets: address taken", files: 1, pid: "1", listen: "held", wantExit: true,
			want: []string{`LISTEN_PID=1 is another process`, `address already in use (another process holds it`}},
		{name: "LISTEN_FDS not a number: binds by itself", files: 1, fds: "two", listen: "127.0.0.1:0",
			want: []string{`LISTEN_FDS=\"two\": want a number of descriptors`, `"msg":"listening"`}},
		{name: "names do not match the count", files: 1, names: "a:b", listen: "127.0.0.1:0",
			want: []string{`LISTEN_FDNAMES has 2 names for LISTEN_FDS=1 descriptors`, `"msg":"listening"`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var files []*os.File
			var addrs []string
			for range tc.files {
				f, addr := listeningFile(t)
				files, addrs = append(files, f), append(addrs, addr)
			}
			if tc.extra {
				files = append(files, notSocket)
			}
			listen, admin := tc.listen, ""
			if listen == "held" {
				listen = addrs[0]
				if len(addrs) > 1 {
					admin = fmt.Sprintf("[admin]\nlisten = %q\n", addrs[1])
				}
			}
			cfg := writeFile(t, t.TempDir(), "tether.toml", fmt.Sprintf(`%s
[[listeners]]
name = "l"
listen = %q
upstream = "echo"
preamble = "none"
[upstreams.echo]
servers = [%q]
`, admin, listen, backends[0]))
			fds := tc.fds
			if fds == "" {
				fds = strconv.Itoa(len(files))
			}
			pid := "$$"
			if tc.pid != "" {
				pid = tc.pid
			}
			cmd := exec.Command("/bin/sh", "-c", fmt.Sprintf(`LISTEN_PID=%s LISTEN_FDS=%s LISTEN_FDNAMES=%s exec "$0" run -c "$1"`, pid, fds, tc.names), binary, cfg)
			cmd.ExtraFiles = files
			p := startCmd(t, cmd)
			for _, w := range tc.want {
				p.waitOutput(t, w)
			}
			if tc.wantExit {
				if code := p.wait(t); code != 1 {
					t.Fatalf("exit code %d, want 1", code)
				}
				return
			}
			tu, err := openTunnel(p.loggedAddr(t, "listening", "l"))
			if err != nil {
				t.Fatal(err)
			}
			defer tu.c.Close()
			if err := tu.roundTrip(); err != nil {
				t.Fatal(err)
			}
			if admin != "" {
				resp, err := http.Get("http://" + addrs[1] + "/healthz")
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if resp.StatusCode != 200 {
					t.Fatalf("admin on the passed socket: %s", resp.Status)
				}
			}
		})
	}
}

// TestSystemdUnits checks contrib/systemd's units with `systemd-analyze verify` (any warning
// fails, not only errors) where systemd is installed, and pins what the service must say for
// tether's notifications, reload, upgrade and hardening to work.
func TestSystemdUnits(t *testing.T) {
	t.Parallel()
	src := filepath.Join("..", "..", "contrib", "systemd")
	service, err := os.ReadFile(filepath.Join(src, "tether.service"))
	if err != nil {
		t.Fatal(err)
	}
	socket, err := os.ReadFile(filepath.Join(src, "tether.socket"))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range []string{"Type=notify", "NotifyAccess=all", "ExecReload=/bin/kill -HUP $MAINPID",
		"DynamicUser=yes", "CapabilityBoundingSet=CAP_NET_BIND_SERVICE", "LimitNOFILE=1048576",
		"ProtectSystem=strict", "WatchdogSec=", "KillMode=mixed"} {
		if !strings.Contains(string(service), "\n"+line) {
			t.Errorf("tether.service lacks %q", line)
		}
	}
	if !strings.Contains(string(socket), "\nService=tether.service") {
		t.Error("tether.socket does not name tether.service")
	}
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		if os.Getenv("TETHER_REQUIRE_PEERS") != "" {
			t.Fatal("systemd-analyze is not installed (package systemd; scripts/test installs it)")
		}
		t.Skip("systemd-analyze is not installed (package systemd); the units were not verified")
	}
	dir := t.TempDir()
	// verify checks that ExecStart's binary exists: point it at the one the tests built.
	writeFile(t, dir, "tether.service", strings.ReplaceAll(string(service), "/usr/local/bin/tether", binary))
	writeFile(t, dir, "tether.socket", string(socket))
	out, err := exec.Command(analyze, "verify", "--man=no",
		filepath.Join(dir, "tether.service"), filepath.Join(dir, "tether.socket")).CombinedOutput()
	if err != nil || strings.Contains(string(out), "tether.s") {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
}
