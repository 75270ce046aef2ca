//go:build linux

// Command soak100k is the by-hand soak of issue 12: it holds N upgraded wss:// WebSocket
// tunnels (100,000 by default) through tether for a while, each tunnel echoing once a minute,
// then the same load through nginx (stream, ssl), and reports for each proxy the resident
// memory and file descriptors per tunnel, the CPU it burns while the tunnels idle, and the
// tunnels lost (which must be 0).
//
//	go run ./bench/soak100k                              100,000 tunnels, 10 minutes each
//	go run ./bench/soak100k -n 2000 -per-proc 700 -hold 1m   a quick check (3 processes)
//
// One process may hold only as many sockets as its open-file limit allows (20,000 on the
// machine this was written for), so tether runs as ceil(N / -per-proc) processes sharing one
// port with reuseport, and nginx with as many workers (reuseport too); a real box raises
// LimitNOFILE instead (README, "Sizing a box"). Clients and backends are e2e/wspeer processes
// spread the same way: every client connects from a 127.x.y.z address of its own, every
// backend listens on a loopback address of its own, so no address pair runs out of ports.
// Every process started is in its own process group and is killed when the soak ends or is
// interrupted.
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
	"slices"
	"strings"
	"syscall"
	"time"
)

// options are the soak's flags.
type options struct {
	n, perProc, perClient, perBackend int
	hold, every                       time.Duration
	proxies                           []string
	tether, out                       string
}

func main() {
	var o options
	var proxies string
	flag.IntVar(&o.n, "n", 100_000, "tunnels held through each proxy")
	flag.IntVar(&o.perProc, "per-proc", 9000, "tunnels per tether process and per nginx worker (each takes 2 fds)")
	flag.IntVar(&o.perClient, "per-client", 18000, "tunnels per client process (each takes 1 fd)")
	flag.IntVar(&o.perBackend, "per-backend", 6000, "tunnels per backend process and address")
	flag.DurationVar(&o.hold, "hold", 10*time.Minute, "how long the tunnels are held after all opened")
	flag.DurationVar(&o.every, "every", time.Minute, "each tunnel echoes once per this interval while held")
	flag.StringVar(&proxies, "proxies", "tether,nginx", "proxies to soak, in order")
	flag.StringVar(&o.tether, "tether", "", "tether binary (default: build ./cmd/tether)")
	flag.StringVar(&o.out, "out", "", "write the markdown report here too")
	flag.Parse()
	o.proxies = strings.Split(proxies, ",")
	if err := o.check(); err != nil {
		fmt.Fprintln(os.Stderr, "soak100k:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, o, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "soak100k:", err)
		os.Exit(1)
	}
}

// check validates the flags against each other and the open-file limit.
func (o *options) check() error {
	switch {
	case o.n < 1 || o.perProc < 1 || o.perClient < 1 || o.perBackend < 1:
		return errors.New("-n, -per-proc, -per-client and -per-backend must be positive")
	case o.every < 5*time.Second || o.hold < o.every:
		return errors.New("-every must be at least 5s and -hold at least -every")
	case o.perClient > 250*256:
		return fmt.Errorf("-per-client %d: a client process has %d source addresses", o.perClient, 250*256)
	}
	for _, p := range o.proxies {
		if p != "tether" && p != "nginx" {
			return fmt.Errorf("-proxies: unknown proxy %q (want tether, nginx)", p)
		}
	}
	limit, err := raiseNoFile()
	if err != nil {
		return err
	}
	for _, need := range []struct {
		what string
		fds  int
	}{
		{"a tether process or nginx worker (-per-proc)", proxyFDs(o.perProc, procs(o.n, o.perProc))},
		{"a client process (-per-client)", o.perClient + 64},
		{"a backend process (-per-backend)", o.perBackend + 64},
	} {
		if uint64(need.fds) > limit {
			return fmt.Errorf("%s needs %d open files, the limit is %d: lower it or raise ulimit -Hn", need.what, need.fds, limit)
		}
	}
	return nil
}

// procs is how many processes hold n tunnels at per each.
func procs(n, per int) int { return (n + per - 1) / per }

// proxyFDs is how many open files a proxy process needs for per tunnels when the kernel
// spreads connections over k processes sharing a port: two per tunnel, with room for an
// uneven split (4 standard deviations of a binomial) and for listeners and the like.
func proxyFDs(per, k int) int {
	spread := 0
	if k > 1 {
		n := float64(per * k)
		spread = int(4 * math.Sqrt(n/float64(k)*(1-1/float64(k))))
	}
	return 2*(per+spread) + 128
}

// raiseNoFile raises the soft open-file limit to the hard one, so that the children inherit it
// (Go raises its own soft limit but gives children the original one unless the program set it),
// and returns it.
func raiseNoFile() (uint64, error) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, err
	}
	lim.Cur = lim.Max
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, err
	}
	return lim.Max, nil
}

// run soaks every proxy in turn and writes the report.
func run(ctx context.Context, o options, stdout io.Writer) error {
	dir, err := os.MkdirTemp("", "soak100k-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	var kids children
	defer kids.killAll()
	env, err := setUp(ctx, o, dir, &kids)
	if err != nil {
		return err
	}
	var results []result
	for i, name := range o.proxies {
		logf("soaking %s: %d tunnels, %d process(es), hold %v", name, o.n, procs(o.n, o.perProc), o.hold)
		r, err := env.soak(ctx, name, i)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		results = append(results, r)
	}
	report := writeReport(o, results)
	fmt.Fprint(stdout, report)
	if o.out != "" {
		if err := os.WriteFile(o.out, []byte(report), 0o644); err != nil {
			return err
		}
	}
	if slices.ContainsFunc(results, func(r result) bool { return r.lost > 0 || r.failed > 0 }) {
		return errors.New("tunnels were lost or failed to open (see the report)")
	}
	return nil
}

// logf prints progress to stderr with the time.
func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}
