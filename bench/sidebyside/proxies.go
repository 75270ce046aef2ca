package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Participant names, in report order. "direct" is the client talking to a backend itself.
const (
	nameDirect      = "direct"
	nameTether      = "tether"
	nameNginx       = "nginx"
	nameHAProxy     = "haproxy"
	nameHAProxyAuto = "haproxy-splice-auto"
	nameHAProxyOn   = "haproxy-splice"
)

// setup is everything the proxies are started from.
type setup struct {
	Dir          string // the run's scratch directory
	Tether       string // tether binary
	TetherArgs   []string
	TetherProcs  int // GOMAXPROCS for tether
	Nginx        string
	StreamModule string
	HAProxy      string
	Backends     backendAddrs
	Cert         certFiles
	NoFile       int // RLIMIT_NOFILE hard limit, inherited by the proxies
	IdleConns    int
	StormTunnels int // tunnels of the reconnect-storm tests
}

// proxyDef is one proxy under test and how to start it.
type proxyDef struct {
	Name  string
	TLS   bool // also serves the TLS rows
	About string
	// Pprof says the proxy serves Go's CPU profile on listenPorts.Admin when asked to (-profile).
	Pprof bool
	// start writes the configuration into dir and starts the proxy on p.
	start func(s *setup, dir string, p listenPorts) (*child, error)
}

// proxyDefs are all proxies the harness knows, in report order. To add one, append a proxyDef
// (see bench/README.md).
var proxyDefs = []*proxyDef{
	{Name: nameTether, TLS: true, About: "tether run, preamble \"none\", one Go P (GOMAXPROCS=1)", Pprof: true, start: startTether},
	{Name: nameNginx, TLS: true, About: "nginx stream, one worker, no master", start: startNginx},
	{Name: nameHAProxy, TLS: true, About: "HAProxy mode tcp, nbthread 1, no splicing", start: haproxyStarter(spliceOff)},
	{Name: nameHAProxyAuto, About: "HAProxy as above with option splice-auto", start: haproxyStarter(spliceAuto)},
	{Name: nameHAProxyOn, About: "HAProxy as above with option splice-request + splice-response", start: haproxyStarter(spliceOn)},
}

func startTether(s *setup, dir string, p listenPorts) (*child, error) {
	cfg := filepath.Join(dir, "tether.toml")
	if err := os.WriteFile(cfg, []byte(tetherConfig(p, s.Backends.Plain, s.Cert)), 0o644); err != nil {
		return nil, err
	}
	argv := append([]string{s.Tether, "run", "-c", cfg}, s.TetherArgs...)
	return startChild(nameTether, filepath.Join(dir, "tether.log"), []string{"GOMAXPROCS=" + strconv.Itoa(s.TetherProcs)}, nil, argv...)
}

func startNginx(s *setup, dir string, p listenPorts) (*child, error) {
	cfg := filepath.Join(dir, "nginx.conf")
	ns := nginxSetup{Dir: dir, StreamModule: s.StreamModule, Root: os.Geteuid() == 0, NoFile: s.NoFile}
	if err := os.WriteFile(cfg, []byte(nginxConfig(ns, p, s.Backends.Plain, s.Cert)), 0o644); err != nil {
		return nil, err
	}
	return startChild(nameNginx, filepath.Join(dir, "nginx.out"), nil, nil,
		s.Nginx, "-p", dir, "-c", cfg, "-e", filepath.Join(dir, "error.log"))
}

func haproxyStarter(mode spliceMode) func(*setup, string, listenPorts) (*child, error) {
	return func(s *setup, dir string, p listenPorts) (*child, error) {
		hs := haproxySetup{Splice: mode, MaxConn: max(s.IdleConns, s.StormTunnels) + 100}
		// HAProxy needs two fds per connection and two per pipe, below the fd limit.
		hs.MaxPipes = max(16, min(1024, (s.NoFile-2*hs.MaxConn-200)/2))
		cfg := filepath.Join(dir, "haproxy.cfg")
		if err := os.WriteFile(cfg, []byte(haproxyConfig(hs, p, s.Backends.Plain, s.Cert)), 0o644); err != nil {
			return nil, err
		}
		return startChild(filepath.Base(dir), filepath.Join(dir, "haproxy.log"), nil, nil, s.HAProxy, "-db", "-f", cfg)
	}
}

// instance is one running participant: where to connect and, for a proxy, its process.
type instance struct {
	Name  string
	proc  *child // nil for direct
	Plain target
	TLS   target // ECDSA certificate, browser-like client (with changes the client's profile)
	RSA   target // RSA certificate, browser-like client
	Admin string // host:port of tether's admin listener with pprof; "" when there is none
}

// pid returns the proxy's pid, 0 for direct.
func (in *instance) pid() int {
	if in.proc == nil {
		return 0
	}
	return in.proc.pid()
}

// target returns the plain or the TLS address.
func (in *instance) target(useTLS bool) target {
	if useTLS {
		return in.TLS
	}
	return in.Plain
}

// stop ends the proxy process.
func (in *instance) stop() error {
	if in.proc == nil {
		return nil
	}
	return in.proc.stop()
}

// directInstance is the client talking to the first backend, plain or over TLS.
func directInstance(b backendAddrs) *instance {
	return &instance{Name: nameDirect, Plain: target{Addr: b.Plain[0]},
		TLS: target{Addr: b.TLS, TLS: profileBrowser}, RSA: target{Addr: b.RSA, TLS: profileBrowser}}
}

// readyTimeout bounds how long a proxy may take to serve after it was started.
const readyTimeout = 15 * time.Second

// startInstance starts def on three free ports (plain, TLS ECDSA, TLS RSA) in a new directory
// under s.Dir and waits until an echo goes through each of its listeners. With pprof (and a def
// that can), a fourth free port gets its admin listener with the CPU profile. A port taken between choosing and
// binding is retried with others.
func startInstance(ctx context.Context, s *setup, def *proxyDef, seq int, pprof bool) (*instance, error) {
	pprof = pprof && def.Pprof
	n := 3
	if pprof {
		n = 4
	}
	var lastErr error
	for attempt := range 3 {
		dir := filepath.Join(s.Dir, fmt.Sprintf("%s-%d-%d", def.Name, seq, attempt))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, err
		}
		ports, err := freePorts(n)
		if err != nil {
			return nil, err
		}
		p := listenPorts{Plain: ports[0], TLS: ports[1], RSA: ports[2]}
		if pprof {
			p.Admin = ports[3]
		}
		proc, err := def.start(s, dir, p)
		if err != nil {
			return nil, err
		}
		in := &instance{
			Name:  def.Name,
			proc:  proc,
			Plain: target{Addr: fmt.Sprintf("127.0.0.1:%d", p.Plain)},
			TLS:   target{Addr: fmt.Sprintf("127.0.0.1:%d", p.TLS), TLS: profileBrowser},
			RSA:   target{Addr: fmt.Sprintf("127.0.0.1:%d", p.RSA), TLS: profileBrowser},
		}
		if pprof {
			in.Admin = fmt.Sprintf("127.0.0.1:%d", p.Admin)
		}
		if lastErr = waitReady(ctx, in, def.TLS); lastErr == nil {
			return in, nil
		}
		_ = proc.stop()
		lastErr = fmt.Errorf("%s: %w\n%s", def.Name, lastErr, proc.logTail())
		if ctx.Err() != nil || !strings.Contains(lastErr.Error(), "in use") {
			break
		}
	}
	return nil, lastErr
}

// waitReady polls until an echo passes through the plain (and both TLS) listeners of in.
func waitReady(ctx context.Context, in *instance, withTLS bool) error {
	deadline := time.Now().Add(readyTimeout)
	ts := []target{in.Plain}
	if withTLS {
		ts = append(ts, in.TLS, in.RSA)
	}
	for _, t := range ts {
		for {
			if in.proc.exited() {
				return fmt.Errorf("exited: %v", in.proc.err)
			}
			cctx, cancel := context.WithTimeout(ctx, time.Second)
			_, err := echoOnce(cctx, t, []byte("ready?"))
			cancel()
			if err == nil {
				break
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("not serving on %s after %v: %w", t.Addr, readyTimeout, err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	return nil
}

// freePorts returns n distinct loopback ports that were free a moment ago.
func freePorts(n int) ([]int, error) {
	var ports []int
	var lns []net.Listener
	defer func() {
		for _, ln := range lns {
			ln.Close()
		}
	}()
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, errors.Join(errors.New("free port"), err)
		}
		lns = append(lns, ln)
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}
