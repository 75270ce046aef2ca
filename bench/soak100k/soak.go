//go:build linux

package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/tether-proxy/tether/tlsterm"
)

// Debian's nginx and its stream module (packages nginx and libnginx-mod-stream).
const (
	nginxBinary  = "/usr/sbin/nginx"
	streamModule = "/usr/lib/nginx/modules/ngx_stream_module.so"
)

// env is what every proxy's soak shares: binaries, certificate, backends.
type env struct {
	o        options
	dir      string
	kids     *children
	tether   string // binary
	wspeer   string // binary
	cert     string // certificate (the clients' CA)
	key      string
	backends []string
}

// setUp builds the binaries, writes the certificate and starts the backends.
func setUp(ctx context.Context, o options, dir string, kids *children) (*env, error) {
	e := &env{o: o, dir: dir, kids: kids, tether: o.tether, wspeer: filepath.Join(dir, "wspeer")}
	root, err := moduleRoot()
	if err != nil {
		return nil, err
	}
	builds := [][2]string{{e.wspeer, "./e2e/wspeer"}}
	if e.tether == "" {
		e.tether = filepath.Join(dir, "tether")
		builds = append(builds, [2]string{e.tether, "./cmd/tether"})
	}
	for _, b := range builds {
		cmd := exec.CommandContext(ctx, "go", "build", "-o", b[0], b[1])
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("go build %s: %w\n%s", b[1], err, out)
		}
	}
	cert, err := tlsterm.SelfSigned("localhost", "127.0.0.1")
	if err != nil {
		return nil, err
	}
	if e.cert, e.key, err = tlsterm.WritePEM(dir, cert); err != nil {
		return nil, err
	}
	for b := range max(2, procs(o.n, o.perBackend)) {
		// Each backend on a loopback address of its own: the proxies dial every backend from
		// 127.0.0.1, and each (source, destination) pair has one ephemeral port range.
		c, err := kids.start(dir, fmt.Sprintf("backend-%d", b+1), exec.Command(e.wspeer, "echo",
			"-listen", fmt.Sprintf("127.0.1.%d:0", b+1), "-name", fmt.Sprintf("backend-%d", b+1)))
		if err != nil {
			return nil, err
		}
		ev, err := c.await(ctx, "listening", 30*time.Second)
		if err != nil {
			return nil, err
		}
		e.backends = append(e.backends, ev.Addr)
	}
	return e, nil
}

// moduleRoot is the directory of tether's go.mod (the soak runs from the checkout).
func moduleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	gomod := strings.TrimSpace(string(out))
	if err != nil || gomod == "" || gomod == os.DevNull {
		return "", fmt.Errorf("run the soak from tether's checkout (go env GOMOD: %q, %v)", gomod, err)
	}
	return filepath.Dir(gomod), nil
}

// result is what one proxy's soak measured.
type result struct {
	proxy                   string
	procs                   int // tether processes, or nginx workers
	opened, held            int // tunnels opened by the ramp, and open and verified at the end
	failed, lost            int
	echoes                  int64
	ramp                    time.Duration
	before, holdStart, peak usage
	holdEnd                 usage
}

// soak holds the tunnels through proxy (the index-th soaked, which picks the clients' source
// addresses) and measures it.
func (e *env) soak(ctx context.Context, proxy string, index int) (result, error) {
	r := result{proxy: proxy, procs: procs(e.o.n, e.o.perProc)}
	port, err := freePort()
	if err != nil {
		return r, err
	}
	var pids []int
	var stop func()
	if proxy == "tether" {
		pids, stop, err = e.startTether(ctx, port, r.procs)
	} else {
		pids, stop, err = e.startNginx(ctx, port, r.procs)
	}
	if err != nil {
		return r, err
	}
	defer stop()
	if r.before, err = measure(pids); err != nil {
		return r, err
	}
	clients, err := e.startClients(port, index)
	if err != nil {
		return r, err
	}
	start := time.Now()
	for _, c := range clients {
		ev, err := c.await(ctx, "ramped", time.Hour)
		if err != nil {
			return r, err
		}
		r.opened += ev.Open
		r.failed += ev.Failed
	}
	r.ramp = time.Since(start)
	logf("%s: %d tunnels open after %v (%d failed); holding", proxy, r.opened, r.ramp.Round(time.Second), r.failed)
	if err := e.hold(ctx, &r, pids, clients); err != nil {
		return r, err
	}
	for _, c := range clients {
		ev, err := c.await(ctx, "swept", time.Minute)
		if err != nil {
			return r, err
		}
		r.held += ev.Open
		r.lost += ev.Lost
		r.echoes += ev.Echoes
		if ev.Lost > 0 {
			logf("%s: %s lost %d tunnels: %v", proxy, c.name, ev.Lost, ev.Errors)
		}
	}
	for _, c := range clients {
		if _, err := c.await(ctx, "done", 30*time.Minute); err != nil {
			return r, err
		}
		c.stop()
	}
	logf("%s: held %d, lost %d, %d echoes verified", proxy, r.held, r.lost, r.echoes)
	return r, nil
}

// hold samples the proxy every tick (10 s, or a tenth of a shorter hold) from a tick after
// the ramp until a client has swept (its hold is over): the first sample, the last, and the
// highest RSS.
func (e *env) hold(ctx context.Context, r *result, pids []int, clients []*child) error {
	tick := min(10*time.Second, e.o.hold/10)
	select {
	case <-time.After(tick):
	case <-ctx.Done():
		return ctx.Err()
	}
	var err error
	if r.holdStart, err = measure(pids); err != nil {
		return err
	}
	r.peak, r.holdEnd = r.holdStart, r.holdStart
	for {
		for _, c := range clients {
			if _, ok := c.last("swept"); ok {
				return nil
			}
			select {
			case <-c.exited:
				return fmt.Errorf("%s exited (%v) while holding:\n%s", c.name, c.err, tail(c.output()))
			default:
			}
		}
		select {
		case <-time.After(tick):
		case <-ctx.Done():
			return ctx.Err()
		}
		u, err := measure(pids)
		if err != nil {
			return err
		}
		swept := false
		for _, c := range clients {
			_, ok := c.last("swept")
			swept = swept || ok
		}
		if !swept { // the sweep echoes every tunnel at once: not idle any more
			r.holdEnd = u
			if u.rss > r.peak.rss {
				r.peak = u
			}
		}
	}
}

// startClients starts the client processes: tunnels spread evenly, each process with source
// addresses 127.B.x.y of its own (B differs per proxy, so no 4-tuple is reused from the
// previous proxy's TIME_WAIT).
func (e *env) startClients(port, index int) ([]*child, error) {
	k := procs(e.o.n, e.o.perClient)
	sample := (5 * time.Second).Seconds() / e.o.every.Seconds() // rounds every 5 s: each tunnel once per -every
	var out []*child
	for i := range k {
		n := e.o.n / k
		if i < e.o.n%k {
			n++
		}
		c, err := e.kids.start(e.dir, fmt.Sprintf("clients-%d-%d", index, i+1), exec.Command(e.wspeer, "clients",
			"-target", fmt.Sprintf("127.0.0.1:%d", port), "-ca", e.cert, "-n", strconv.Itoa(n),
			"-src", fmt.Sprintf("127.%d", 20+40*index+i), "-concurrency", strconv.Itoa(max(1, 200/k)),
			"-hold", e.o.hold.String(), "-every", "5s", "-sample", strconv.FormatFloat(sample, 'f', 6, 64),
			"-timeout", "60s"))
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}

// startTether runs k tether processes on one port (reuseport) and waits until each listens.
func (e *env) startTether(ctx context.Context, port, k int) ([]int, func(), error) {
	servers := make([]string, len(e.backends))
	for i, b := range e.backends {
		servers[i] = strconv.Quote(b)
	}
	cfg := filepath.Join(e.dir, "tether.toml")
	if err := os.WriteFile(cfg, []byte(tetherConfig(port, e.cert, e.key, servers)), 0o644); err != nil {
		return nil, nil, err
	}
	var pids []int
	var kids []*child
	stop := func() {
		for _, c := range kids {
			c.stop()
		}
	}
	for i := range k {
		c, err := e.kids.start(e.dir, fmt.Sprintf("tether-%d", i+1), exec.Command(e.tether, "run", "-c", cfg))
		if err != nil {
			stop()
			return nil, nil, err
		}
		kids = append(kids, c)
		pids = append(pids, c.cmd.Process.Pid)
		if err := awaitOutput(ctx, c, c.output, `"msg":"listening"`); err != nil {
			stop()
			return nil, nil, err
		}
	}
	return pids, stop, nil
}

// tetherConfig is the soak's tether configuration: one wss:// listener shared by every process.
func tetherConfig(port int, cert, key string, servers []string) string {
	return fmt.Sprintf(`# generated by bench/soak100k
[[listeners]]
name = "soak"
listen = "127.0.0.1:%d"
upstream = "echo"
preamble = "websocket"
reuseport = true
  [listeners.tls]
  cert = %q
  key = %q

[upstreams.echo]
servers = [%s]
`, port, cert, key, strings.Join(servers, ", "))
}

// startNginx runs nginx with k workers on one port (reuseport) and waits until they started.
func (e *env) startNginx(ctx context.Context, port, k int) ([]int, func(), error) {
	for _, f := range []string{nginxBinary, streamModule} {
		if _, err := os.Stat(f); err != nil {
			return nil, nil, fmt.Errorf("%w (apt-get install nginx libnginx-mod-stream)", err)
		}
	}
	dir := filepath.Join(e.dir, "nginx")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, nil, err
	}
	limit, err := raiseNoFile()
	if err != nil {
		return nil, nil, err
	}
	cfg := filepath.Join(dir, "nginx.conf")
	conf := nginxConfig(dir, port, k, int(min(limit, 1<<20)), os.Geteuid() == 0, e.cert, e.key, e.backends)
	if err := os.WriteFile(cfg, []byte(conf), 0o644); err != nil {
		return nil, nil, err
	}
	errLog := filepath.Join(dir, "error.log")
	c, err := e.kids.start(e.dir, "nginx", exec.Command(nginxBinary, "-p", dir, "-c", cfg, "-e", errLog))
	if err != nil {
		return nil, nil, err
	}
	read := func() string { b, _ := os.ReadFile(errLog); return string(b) }
	if err := awaitCount(ctx, c, read, "start worker process", k); err != nil {
		c.stop()
		return nil, nil, err
	}
	return []int{c.cmd.Process.Pid}, c.stop, nil
}

// nginxConfig is nginx's configuration for the same load: k workers sharing the port with
// reuseport, the same backends with the same hash.
func nginxConfig(dir string, port, k, nofile int, root bool, cert, key string, backends []string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# generated by bench/soak100k\nload_module %s;\ndaemon off;\nmaster_process on;\nworker_processes %d;\n", streamModule, k)
	if root {
		b.WriteString("user root;\n")
	}
	fmt.Fprintf(&b, "worker_rlimit_nofile %d;\npid %s/nginx.pid;\nerror_log %s/error.log notice;\n", nofile, dir, dir)
	fmt.Fprintf(&b, "events {\n    worker_connections %d;\n}\n", max(nofile-500, 1024))
	b.WriteString("stream {\n    upstream backends {\n        hash $remote_addr consistent;\n")
	for _, a := range backends {
		fmt.Fprintf(&b, "        server %s;\n", a)
	}
	b.WriteString("    }\n")
	fmt.Fprintf(&b, "    server {\n        listen 127.0.0.1:%d ssl reuseport backlog=4096;\n", port)
	fmt.Fprintf(&b, "        ssl_certificate %s;\n        ssl_certificate_key %s;\n", cert, key)
	b.WriteString("        proxy_pass backends;\n        proxy_timeout 1h;\n    }\n}\n")
	return b.String()
}

// awaitOutput waits until read() contains sub, c exits or ctx ends (at most a minute).
func awaitOutput(ctx context.Context, c *child, read func() string, sub string) error {
	return awaitCount(ctx, c, read, sub, 1)
}

// awaitCount waits until read() contains sub n times.
func awaitCount(ctx context.Context, c *child, read func() string, sub string, n int) error {
	deadline := time.Now().Add(time.Minute)
	for strings.Count(read(), sub) < n {
		select {
		case <-c.exited:
			return fmt.Errorf("%s exited (%v):\n%s\n%s", c.name, c.err, tail(c.output()), tail(read()))
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: no %q within a minute:\n%s", c.name, sub, tail(read()))
		}
	}
	return nil
}

// freePort returns a port of 127.0.0.1 that was free a moment ago.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}
