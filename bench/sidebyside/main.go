// Command sidebyside is tether's side-by-side benchmark: on one machine it starts tether,
// nginx (stream) and HAProxy (tcp, three splicing variants) in front of the same three
// loopback backends, measures them alternately run by run (bulk throughput, ping-pong latency,
// connection and TLS handshake rates, idle memory), next to a direct client -> backend run as
// the physical limit, plus reconnect storms of WSS tunnels and system calls per connection, and
// writes a markdown report with ratios and the targets of issues 3 and 11.
//
//	go run ./bench/sidebyside                  the full matrix, ~15-20 minutes
//	go run ./bench/sidebyside -quick           a ~2 minute smoke run
//	go run ./bench/sidebyside -out RESULTS.md -only bulk,connrate -runs 5
//	go run ./bench/sidebyside -only connrate -profile prof   tether's CPU profile of each test in prof/ and the report
//
// See bench/README.md for what each row measures. The harness installs nginx,
// libnginx-mod-stream and haproxy with apt-get when they are missing, builds tether from the
// checkout, and kills every process it started when it ends or is interrupted.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"os/signal"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

// options are the command-line flags.
type options struct {
	quick       bool
	runs        int
	out         string
	only        string
	proxies     string
	tether      string
	tetherArgs  string
	tetherProcs int
	idleConns   int
	storm       stormConfig
	workers     int
	window      time.Duration
	timeout     time.Duration
	install     bool
	spinner     string
	keep        bool
	maxOther    float64
	retries     int
	retryBudget time.Duration
	profile     string
}

func main() {
	if len(os.Args) > 1 {
		switch os.Args[1] {
		case "internal-backend": // the backends' child process
			if len(os.Args) != 6 {
				fmt.Fprintln(os.Stderr, "usage: internal-backend ECDSA-CERT ECDSA-KEY RSA-CERT RSA-KEY")
				os.Exit(2)
			}
			if err := runBackends(os.Args[2], os.Args[3], os.Args[4], os.Args[5]); err != nil {
				fmt.Fprintln(os.Stderr, "backends:", err)
				os.Exit(1)
			}
			return
		case "internal-spin": // the busy spinner's child process
			cpu, err := strconv.Atoi(os.Args[len(os.Args)-1])
			if err == nil {
				go func() { _, _ = io.Copy(io.Discard, os.Stdin); os.Exit(0) }() // the harness is gone
				err = spin(cpu)
			}
			fmt.Fprintln(os.Stderr, "spinner:", err)
			os.Exit(1)
		}
	}
	var o options
	flag.BoolVar(&o.quick, "quick", false, "smoke run (~2 min): 1 run, short windows, 2000 idle connections, 500 storm tunnels, a third of the traced connections")
	flag.IntVar(&o.runs, "runs", 3, "runs of every participant per test (alternating)")
	flag.StringVar(&o.out, "out", "", "write the markdown report to this file (default: stdout)")
	flag.StringVar(&o.only, "only", "", "comma-separated tests or test prefixes, e.g. bulk,pingpong-64,tls-handshake (default: all)")
	flag.StringVar(&o.proxies, "proxies", "", "comma-separated proxies to run (default: all of "+strings.Join(defNames(), ",")+")")
	flag.StringVar(&o.tether, "tether", "", "use this tether binary instead of building ./cmd/tether")
	flag.StringVar(&o.tetherArgs, "tether-args", "-log-level warn", "extra arguments to `tether run` (default: no per-tunnel access log, like the peers)")
	flag.IntVar(&o.tetherProcs, "tether-procs", 1, "GOMAXPROCS for tether (1: one core, like the peers' one worker/thread)")
	flag.IntVar(&o.idleConns, "idle-conns", 9000, "connections per proxy in the idle-memory tests")
	flag.IntVar(&o.workers, "workers", 32, "concurrent connections of the connection-rate tests")
	flag.IntVar(&o.storm.Tunnels, "storm-tunnels", 8000, "WSS tunnels per proxy in the reconnect-storm tests (-quick: 500)")
	flag.IntVar(&o.storm.InFlight, "storm-inflight", 1000, "connection attempts in flight at once in the reconnect-storm tests")
	flag.DurationVar(&o.window, "window", 0, "measurement window of each run (default 2s, -quick 500ms)")
	flag.DurationVar(&o.timeout, "timeout", 45*time.Minute, "stop everything after this long")
	flag.BoolVar(&o.install, "install", true, "install missing peers with apt-get")
	flag.StringVar(&o.spinner, "spinner", "last", "busy spinners during single-connection latency tests: last (on the last CPU), all (one per CPU) or none")
	flag.BoolVar(&o.keep, "keep", false, "keep the scratch directory (configurations, logs)")
	flag.Float64Var(&o.maxOther, "max-other", 0.3, "repeat a run when other processes used more than this many cores during its window")
	flag.IntVar(&o.retries, "retries", 2, "how often a noisy run is repeated at most")
	flag.DurationVar(&o.retryBudget, "retry-budget", 3*time.Minute, "total time spent repeating noisy runs, at most")
	flag.StringVar(&o.profile, "profile", "", "save a CPU profile of tether's first run of each test as `DIR`/<test>.pprof and add its top functions to the report")
	flag.Parse()
	if flag.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "sidebyside: unexpected arguments %q\n", flag.Args())
		os.Exit(2)
	}
	code := 0
	if err := run(o, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "sidebyside:", err)
		code = 1
	}
	killAll()
	os.Exit(code)
}

func defNames() []string {
	var n []string
	for _, d := range proxyDefs {
		n = append(n, d.Name)
	}
	return n
}

// run is the whole harness; every child it starts is killed by main's killAll, also after an
// interrupt (the context is cancelled, every step returns) or a timeout.
func run(o options, log io.Writer) error {
	started := time.Now()
	tm := timing{Warm: 500 * time.Millisecond, Window: 2 * time.Second, Settle: time.Second}
	if o.quick {
		tm = timing{Warm: 200 * time.Millisecond, Window: 500 * time.Millisecond, Settle: 500 * time.Millisecond}
		o.runs = 1
		o.idleConns = min(o.idleConns, 2000)
		o.storm.Tunnels = min(o.storm.Tunnels, 500)
	}
	if o.storm.Tunnels < 1 || o.storm.InFlight < 1 {
		return fmt.Errorf("-storm-tunnels %d, -storm-inflight %d: want >= 1", o.storm.Tunnels, o.storm.InFlight)
	}
	if o.window > 0 {
		tm.Window = o.window
	}
	if o.spinner != "last" && o.spinner != "all" && o.spinner != "none" {
		return fmt.Errorf("-spinner %q: want last, all or none", o.spinner)
	}
	if o.runs < 1 {
		return fmt.Errorf("-runs %d: want >= 1", o.runs)
	}
	selected, err := selectTests(tests, o.only)
	if err != nil {
		return err
	}
	defs, err := selectProxies(proxyDefs, o.proxies)
	if err != nil {
		return err
	}
	if o.profile != "" {
		if !slices.ContainsFunc(defs, func(d *proxyDef) bool { return d.Pprof }) {
			return fmt.Errorf("-profile: no selected proxy serves a CPU profile (add %s to -proxies)", nameTether)
		}
		if err := os.MkdirAll(o.profile, 0o755); err != nil {
			return fmt.Errorf("-profile: %w", err)
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()

	noFile, err := raiseNoFile()
	if err != nil {
		return err
	}
	rep := &report{Started: started, Command: "go run ./bench/sidebyside " + strings.Join(os.Args[1:], " ")}
	// Each idle connection costs the client one fd, the backends one and the proxy two.
	if limit := (noFile - 1000) / 2; o.idleConns > limit {
		rep.Notes = append(rep.Notes, fmt.Sprintf("idle connections lowered from %d to %d by the open files limit %d", o.idleConns, limit, noFile))
		o.idleConns = limit
	}
	// A storm's tunnels cost the same, and a proxy may briefly hold old tunnels beside new ones.
	if limit := (noFile - 2000) / 2; o.storm.Tunnels > limit {
		rep.Notes = append(rep.Notes, fmt.Sprintf("storm tunnels lowered from %d to %d by the open files limit %d", o.storm.Tunnels, limit, noFile))
		o.storm.Tunnels = limit
	}
	dir, err := os.MkdirTemp("", "tether-sidebyside-")
	if err != nil {
		return err
	}
	if o.keep {
		fmt.Fprintf(log, "sidebyside: scratch directory %s is kept\n", dir)
	} else {
		defer os.RemoveAll(dir)
	}
	defer killAll() // before the directory goes
	self, err := os.Executable()
	if err != nil {
		return err
	}

	peers, notes := ensurePeers(ctx, o.install, log)
	rep.Notes = append(rep.Notes, notes...)
	defs = slices.DeleteFunc(defs, func(d *proxyDef) bool {
		missing := (d.Name == nameNginx && (peers.Nginx == "" || peers.StreamModule == "")) ||
			(strings.HasPrefix(d.Name, nameHAProxy) && peers.HAProxy == "")
		if missing {
			rep.Notes = append(rep.Notes, d.Name+" is not installed: left out")
		}
		return missing
	})
	bin, source := o.tether, "prebuilt binary "+o.tether
	if bin == "" {
		src, err := moduleDir(ctx)
		if err != nil {
			return err
		}
		if bin, err = buildTether(ctx, src, dir, log); err != nil {
			return err
		}
		source = sourceOf(src)
	}
	cert, err := writeCert(dir)
	if err != nil {
		return err
	}
	backends, addrs, err := startBackends(self, dir, cert)
	if err != nil {
		return err
	}
	s := &setup{
		Dir: dir, Tether: bin, TetherArgs: strings.Fields(o.tetherArgs), TetherProcs: o.tetherProcs,
		Nginx: peers.Nginx, StreamModule: peers.StreamModule, HAProxy: peers.HAProxy,
		Backends: addrs, Cert: cert, NoFile: noFile, IdleConns: o.idleConns, StormTunnels: o.storm.Tunnels,
	}
	rep.Machine = machineInfo(peers, bin, source, noFile)
	rep.Setup = setupLines(o, tm, defs, s)

	h := &harness{ctx: ctx, log: log, s: s, self: self, started: started, o: o, tm: tm,
		backends: backends, live: map[string]*instance{nameDirect: directInstance(addrs)},
		profiles: map[string]*profileResult{}}
	defer h.stopAll()
	for _, t := range selected {
		if !t.Idle {
			if err := h.startLive(defs); err != nil {
				return err
			}
			break
		}
	}
	for _, t := range selected {
		out, err := h.runTest(t, defs)
		if out != nil {
			rep.Outcomes = append(rep.Outcomes, out)
		}
		if err != nil {
			return err
		}
	}
	h.stopAll()
	if o.profile != "" {
		// After every run, so that pprof's CPU does not land in any window.
		rep.Profiles = h.profileResults(selected, defs, bin)
	}
	rep.Took = time.Since(started)
	text := rep.render()
	if o.out == "" {
		fmt.Print(text)
		return nil
	}
	if err := os.WriteFile(o.out, []byte(text), 0o644); err != nil {
		return err
	}
	fmt.Fprintf(log, "sidebyside: report written to %s (%s)\n", o.out, rep.Took.Round(time.Second))
	return nil
}

// spinCPUs returns the CPUs that get a busy spinner: none on a single CPU (the spinner would
// only compete), else the last CPU or all of them.
func spinCPUs(mode string, ncpu int) []int {
	if ncpu < 2 || mode == "none" {
		return nil
	}
	if mode == "last" {
		return []int{ncpu - 1}
	}
	cpus := make([]int, ncpu)
	for i := range cpus {
		cpus[i] = i
	}
	return cpus
}

// selectProxies returns the proxies -proxies names (all when empty), in matrix order.
func selectProxies(all []*proxyDef, names string) ([]*proxyDef, error) {
	if strings.TrimSpace(names) == "" {
		return slices.Clone(all), nil
	}
	want := make(map[string]bool)
	for _, n := range strings.Split(names, ",") {
		n = strings.TrimSpace(n)
		if !slices.ContainsFunc(all, func(d *proxyDef) bool { return d.Name == n }) {
			return nil, fmt.Errorf("-proxies %q: unknown; proxies are %s", n, strings.Join(defNames(), ", "))
		}
		want[n] = true
	}
	return slices.DeleteFunc(slices.Clone(all), func(d *proxyDef) bool { return !want[d.Name] }), nil
}

// setupLines describe how the run was set up, for the report.
func setupLines(o options, tm timing, defs []*proxyDef, s *setup) []string {
	l := []string{
		fmt.Sprintf("Runs: %d per participant and test, alternating (A B C … A B C …); each cell is the median (min–max) of the runs. "+
			"A run during which other processes used more than %.2f cores is repeated (at most %d times, %v in all).", o.runs, o.maxOther, o.retries, o.retryBudget),
		fmt.Sprintf("Load runs: %v warm-up, then a %v measurement window. Idle memory: %d connections per proxy, %v settle before each RSS reading.", tm.Warm, tm.Window, o.idleConns, tm.Settle),
		fmt.Sprintf("Reconnect storms: %d WSS tunnels per participant, %d attempts in flight, each client from its own address (127.2.0.1 on).", o.storm.Tunnels, o.storm.InFlight),
		"Client: this harness (Go, GOMAXPROCS=" + strconv.Itoa(runtime.GOMAXPROCS(0)) + "), connecting from 127.1.0.1-127.1.3.232 in turn. " +
			"Backends: one child process with " + strconv.Itoa(numBackends) + " loopback listeners (echo / sink / source by first byte) and a TLS listener for the direct TLS rows.",
		"Direct: the client talks to a backend itself: the physical limit of the machine.",
		"Every proxy runs as one process with one worker or thread, hashes the client address consistently over the same 3 backends, logs no access line per connection, and is started fresh for each idle-memory run. Proxy CPU is utime+stime from /proc/PID/stat over the window.",
		"TLS: one self-signed ECDSA P-256 certificate for all, and an RSA-2048 one on a listener of its own for the RSA row. " +
			"The client verifies handshake signatures, not chains. Its profiles: " + profileLines() + ".",
		fmt.Sprintf("tether runs `tether run %s` with GOMAXPROCS=%d.", strings.Join(s.TetherArgs, " "), o.tetherProcs),
	}
	for _, d := range defs {
		l = append(l, fmt.Sprintf("`%s`: %s.", d.Name, d.About))
	}
	if o.profile != "" {
		l = append(l, "-profile: the long-lived tether also serves `[admin]` with `pprof = true` on a loopback port; its first run of each load test is CPU-profiled (see Profiles).")
	}
	return l
}

// profileLines describes the TLS client profiles.
func profileLines() string {
	var l []string
	for _, p := range []*tlsProfile{profileBrowser, profileResume, profileP256} {
		l = append(l, "**"+p.Name+"**: "+p.About)
	}
	return strings.Join(l, "; ")
}

// harness runs the tests: it owns the long-lived proxy instances, the spinner, the progress log.
type harness struct {
	ctx      context.Context
	log      io.Writer
	s        *setup
	self     string
	started  time.Time
	o        options
	tm       timing
	backends *child
	live     map[string]*instance // by name, for the non-idle tests; "direct" included
	seq      int
	retried  time.Duration             // spent repeating noisy runs
	profiles map[string]*profileResult // -profile: by test ID, once tether's window opened
}

// startLive starts one long-lived instance of every proxy that is not running yet.
func (h *harness) startLive(defs []*proxyDef) error {
	for _, d := range defs {
		if _, ok := h.live[d.Name]; ok {
			continue
		}
		h.seq++
		in, err := startInstance(h.ctx, h.s, d, h.seq, h.o.profile != "")
		if err != nil {
			return err
		}
		h.live[d.Name] = in
		fmt.Fprintf(h.log, "sidebyside: %s ready (pid %d) on %s and %s\n", d.Name, in.pid(), in.Plain.Addr, in.TLS.Addr)
	}
	return nil
}

func (h *harness) stopAll() {
	for name, in := range h.live {
		if err := in.stop(); err != nil {
			fmt.Fprintln(h.log, "sidebyside:", err)
		}
		delete(h.live, name)
	}
}

// participants returns the names that take part in t, in column order.
func participants(t *testDef, defs []*proxyDef) []string {
	var names []string
	if !t.Idle && !t.NoDirect {
		names = append(names, nameDirect)
	}
	for _, d := range defs {
		if !t.TLS || d.TLS {
			names = append(names, d.Name)
		}
	}
	return names
}

// runTest runs t: runs rounds, each running every participant once in order.
func (h *harness) runTest(t *testDef, defs []*proxyDef) (*outcome, error) {
	names := participants(t, defs)
	out := newOutcome(t, names)
	out.MaxOther = h.o.maxOther
	env := runEnv{Timing: h.tm, IdleConns: h.o.idleConns, Workers: h.o.workers, Storm: h.o.storm, SyscallConns: syscallConns}
	if h.o.quick {
		env.SyscallConns /= 3
	}
	if t.Spin {
		for _, cpu := range spinCPUs(h.o.spinner, runtime.NumCPU()) {
			sp, err := startChild("spinner", fmt.Sprintf("%s/spinner-%d.log", h.s.Dir, cpu), []string{"GOMAXPROCS=1"}, nil,
				h.self, "internal-spin", strconv.Itoa(cpu))
			if err != nil {
				return out, err
			}
			defer sp.stop()
			env.Probe.spinners = append(env.Probe.spinners, sp.pid())
		}
	}
	byName := make(map[string]*proxyDef)
	for _, d := range defs {
		byName[d.Name] = d
	}
	for r := range h.o.runs {
		for _, name := range names {
			if err := h.ctx.Err(); err != nil {
				return out, err
			}
			m, err := h.runOne(t, byName[name], name, env)
			for retry := 0; err == nil && m[mOther] > h.o.maxOther && retry < h.o.retries && h.retried < h.o.retryBudget; retry++ {
				fmt.Fprintf(h.log, "[%4.0fs] %-16s run %d/%d %-20s noisy (other processes used %.2f cores), again\n",
					time.Since(h.started).Seconds(), t.ID, r+1, h.o.runs, name, m[mOther])
				out.Repeated++
				start := time.Now()
				m, err = h.runOne(t, byName[name], name, env)
				h.retried += time.Since(start)
			}
			if err != nil {
				if h.ctx.Err() != nil {
					return out, h.ctx.Err()
				}
				out.Errs[name] = append(out.Errs[name], err.Error())
				fmt.Fprintf(h.log, "[%4.0fs] %-16s run %d/%d %-20s ERROR %v\n", time.Since(h.started).Seconds(), t.ID, r+1, h.o.runs, name, err)
				continue
			}
			if m[mOther] > h.o.maxOther {
				m[mNoisy] = 1
			}
			out.Runs[name] = append(out.Runs[name], m)
			fmt.Fprintf(h.log, "[%4.0fs] %-16s run %d/%d %-20s %s\n", time.Since(h.started).Seconds(), t.ID, r+1, h.o.runs, name, progress(t, m))
		}
	}
	return out, nil
}

// runOne runs one participant once: a fresh proxy for idle tests, the live one otherwise
// (restarted if it died).
func (h *harness) runOne(t *testDef, def *proxyDef, name string, env runEnv) (metrics, error) {
	env.Probe.backend = h.backends.pid()
	if t.Idle {
		h.seq++
		in, err := startInstance(h.ctx, h.s, def, h.seq, false)
		if err != nil {
			return nil, err
		}
		defer in.stop()
		env.Probe.proxy = in.pid()
		return t.run(h.ctx, in, env)
	}
	in := h.live[name]
	if in.proc != nil && in.proc.exited() {
		fmt.Fprintf(h.log, "sidebyside: %s exited (%v), restarting:\n%s\n", name, in.proc.err, in.proc.logTail())
		delete(h.live, name)
		if err := h.startLive([]*proxyDef{def}); err != nil {
			return nil, err
		}
		in = h.live[name]
	}
	env.Probe.proxy = in.pid()
	var prof chan *profileResult
	var profiling atomic.Bool
	if h.o.profile != "" && in.Admin != "" && h.profiles[t.ID] == nil {
		// The first run of this test that reaches its window is profiled over that window.
		prof = make(chan *profileResult, 1)
		env.Probe.atWindow = func() {
			if !profiling.Swap(true) {
				go func() { prof <- takeProfile(h.ctx, in.Admin, h.o.profile, t.ID, h.tm.Window) }()
			}
		}
	}
	m, err := t.run(h.ctx, in, env)
	if err == nil && in.proc != nil && in.proc.exited() {
		err = errors.New("the proxy exited during the run")
	}
	if profiling.Load() {
		// The profile lasts whole seconds: it may end after a shorter window.
		h.profiles[t.ID] = <-prof
	}
	return m, err
}

// progress is a one-line summary of a run for the log.
func progress(t *testDef, m metrics) string {
	var parts []string
	for _, c := range t.Cols {
		if v := m[c.Key]; !math.IsNaN(v) {
			parts = append(parts, fmt.Sprintf("%s=%s", c.Key, fmtNum(v, c.Prec)))
		}
	}
	if v, ok := m[mOther]; ok {
		parts = append(parts, fmt.Sprintf("other=%.2f irq=%.2f", v, m[mSoftIRQ]))
	}
	return strings.Join(parts, " ")
}
