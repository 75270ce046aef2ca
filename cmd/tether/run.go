package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"github.com/tether-proxy/tether/admin"
	"github.com/tether-proxy/tether/conf"
	"github.com/tether-proxy/tether/internal/systemd"
	"github.com/tether-proxy/tether/listener"
)

func cmdRun(args []string, _, stderr io.Writer) int {
	fs := flag.NewFlagSet("tether run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("c", "tether.toml", "configuration file")
	var lf logFlags
	lf.register(fs)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	log, err := lf.logger(stderr)
	if err != nil {
		fmt.Fprintln(stderr, "tether run:", err)
		return 2
	}
	cfg, err := conf.Load(*path)
	if err != nil {
		printProblems(stderr, err)
		return 1
	}
	if err := serve(cfg, log); err != nil {
		log.Error("tether stopped", "err", err)
		return 1
	}
	return 0
}

// daemon is a running `tether run`: the proxy, its admin listener, and what signals do.
type daemon struct {
	log     *slog.Logger
	srv     *listener.Server
	admin   *http.Server
	adminLn net.Listener
	notify  *systemd.Notifier // nil when not run by systemd (Type=notify)
	// stopHistory ends the status page's recorder (with the admin listener).
	stopHistory chan struct{}
	mu          sync.Mutex // one reload or upgrade at a time
}

// serve runs cfg until SIGINT or SIGTERM, or until a binary upgrade handed the sockets over,
// then drains: listeners close at once, open tunnels get cfg.DrainTimeout to finish, the rest
// are closed spread over cfg.DrainSpread. A second SIGINT/SIGTERM closes them at once.
// SIGHUP reloads the configuration file; SIGUSR2 starts the binary again with the sockets.
// Under systemd it reports each of these steps (see systemd.go) and takes the sockets of
// socket activation.
func serve(cfg *conf.Config, log *slog.Logger) error {
	ctx := context.Background()
	// Signals are ours before anyone hears of us (the "listening" lines, READY=1, the previous
	// process's go): a SIGHUP then must reload, and a SIGTERM drain, not kill us.
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGUSR2)
	defer signal.Stop(sigs)
	upgraded := os.Getenv(envReadyFD) != "" // started by a binary upgrade
	inherited, err := inheritedSockets()
	if err != nil {
		return err
	}
	inherited = activatedSockets(cfg, log, inherited)
	srv, err := listener.New(ctx, cfg, listener.Options{Logger: log, Inherited: inherited})
	if err != nil {
		return err
	}
	if err := srv.Listen(ctx); err != nil {
		if errors.Is(err, syscall.EADDRINUSE) {
			err = fmt.Errorf("%w (another process holds it: another tether, or a systemd socket unit whose socket was not passed to this one)", err)
		}
		return err
	}
	d := &daemon{log: log, srv: srv, notify: systemd.NewNotifier(log)}
	defer d.notify.Close()
	if err := d.startAdmin(cfg, inherited); err != nil {
		srv.StopAccepting()
		return err
	}
	for _, l := range cfg.Listeners {
		log.Info("listening", "listener", l.Name, "addr", srv.Addr(l.Name).String(),
			"tls", l.TLS != nil, "preamble", string(l.Preamble), "upstream", l.Upstream)
	}
	served := make(chan struct{})
	go func() { srv.Serve(); close(served) }()
	stopWatch := d.watchCertificates()
	defer stopWatch()
	ready := "READY=1\n" + d.sdStatus("serving")
	if upgraded {
		ready = systemd.MainPID(os.Getpid()) + "\n" + ready // systemd follows this process now
	}
	d.notify.Send(ready)
	d.notify.Flush(time.Second) // before the previous process goes
	if err := notifyParent(); err != nil {
		log.Warn("could not tell the previous process that we are ready", "err", err)
	}
	stopNotifying := d.startNotifying()
	defer stopNotifying()

	reason := ""
	for reason == "" {
		switch sig := <-sigs; sig {
		case syscall.SIGHUP:
			if err := d.Reload(ctx); err != nil {
				log.Error("reload rejected; the running configuration stays", "err", err)
			}
		case syscall.SIGUSR2:
			d.notify.Send(systemd.Reloading())
			if err := d.upgrade(); err != nil {
				log.Error("binary upgrade failed; this process keeps serving", "err", err)
				d.notify.Send("READY=1\n" + d.sdStatus("serving; the binary upgrade failed"))
				continue
			}
			reason = "upgraded"
			stopNotifying() // the new process is the one systemd hears from now
		default:
			reason = sig.String()
			stopNotifying()
			d.notify.Send("STOPPING=1\n" + d.sdStatus("draining"))
		}
	}
	stopWatch() // a certificate change during the drain must not reload (and bind) anything
	cur := srv.Config()
	log.Info("shutting down", "reason", reason, "drain_timeout", cur.DrainTimeout,
		"drain_spread", cur.DrainSpread, "connections", srv.Active())
	if d.admin != nil {
		d.admin.Close()
		close(d.stopHistory)
	}
	dctx, cancel := context.WithTimeout(ctx, cur.DrainTimeout)
	defer cancel()
	go func() {
		for sig := range sigs {
			switch sig {
			case syscall.SIGINT, syscall.SIGTERM:
				log.Warn("second signal: closing all connections now", "signal", sig.String())
				cancel()
				return
			default:
				log.Warn("reload refused: shutting down", "signal", sig.String())
			}
		}
	}()
	err = srv.Shutdown(dctx)
	<-served
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		log.Info("stopped; drain cut short", "reason", err.Error())
		return nil
	}
	log.Info("stopped; all connections drained")
	return err
}

// Reload re-reads the configuration file the running one came from and applies it; a file
// with problems is rejected whole and the running configuration stays.
func (d *daemon) Reload(ctx context.Context) error {
	d.notify.Send(systemd.Reloading())
	err := d.reload(ctx)
	if err != nil {
		reloadsFailed.Inc()
		d.notify.Send("READY=1\n" + d.sdStatus("serving; the last reload was rejected"))
	} else {
		reloadsOK.Inc()
		d.notify.Send("READY=1\n" + d.sdStatus("serving"))
	}
	return err
}

func (d *daemon) reload(ctx context.Context) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	path := d.srv.Config().File
	start := time.Now()
	cfg, err := conf.Load(path)
	if err != nil {
		var ps conf.Problems
		if errors.As(err, &ps) {
			for _, p := range ps {
				d.log.Error("configuration problem", "problem", p.Error())
			}
		}
		return fmt.Errorf("reload %s: %w", path, err)
	}
	if err := d.srv.Reload(ctx, cfg); err != nil {
		return fmt.Errorf("reload %s: %w", path, err)
	}
	if old, cur := d.adminAddr(), cfg.Admin; (old == "") != (cur == nil) || (cur != nil && old != cur.Addr.String()) {
		d.log.Warn("the [admin] listener changes only on restart or binary upgrade")
	}
	d.log.Info("configuration reloaded", "file", path, "listeners", len(cfg.Listeners),
		"upstreams", len(cfg.Upstreams), "took", time.Since(start))
	return nil
}

// WriteMetrics writes the proxy's metrics and the reload counters, for /metrics.
func (d *daemon) WriteMetrics(w io.Writer) {
	d.srv.WriteMetrics(w)
	reloadMetrics.WritePrometheus(w)
}

// Status, Drain and Undrain serve the admin status page and drain API.
func (d *daemon) Status() listener.Status { return d.srv.Status() }

// Drain stops new clients for a backend; see listener.Server.Drain.
func (d *daemon) Drain(up, target string, deadline, spread time.Duration) (int, error) {
	return d.srv.Drain(up, target, deadline, spread)
}

// Undrain ends a drain.
func (d *daemon) Undrain(up, target string) (int, error) { return d.srv.Undrain(up, target) }

// The status page's history: a sample every historyInterval, historyWindow of them.
const (
	historyInterval = 10 * time.Second
	historyWindow   = 15 * time.Minute
)

// processStart is when the process started, for the status page's uptime.
var processStart = time.Now()

// reloadMetrics counts reloads by result.
var (
	reloadMetrics = metrics.NewSet()
	reloadsOK     = reloadMetrics.NewCounter(`tether_reloads_total{result="ok"}`)
	reloadsFailed = reloadMetrics.NewCounter(`tether_reloads_total{result="error"}`)
)

// startAdmin serves the admin endpoints when the configuration has an [admin] table.
func (d *daemon) startAdmin(cfg *conf.Config, inherited map[string]*os.File) error {
	if cfg.Admin == nil {
		return nil
	}
	key := adminSocketKey
	var ln net.Listener
	if f := inherited[key]; f != nil {
		l, err := net.FileListener(f)
		f.Close()
		if err != nil {
			return fmt.Errorf("admin: inherited socket: %w", err)
		}
		ln = l
	} else {
		l, err := net.Listen("tcp", cfg.Admin.Addr.String())
		if err != nil {
			return fmt.Errorf("admin: %w", err)
		}
		ln = l
	}
	d.adminLn = ln
	history := admin.NewRecorder(d, historyInterval, historyWindow)
	d.stopHistory = make(chan struct{})
	go history.Run(d.stopHistory)
	d.admin = &http.Server{Handler: admin.Handler(d, d.log, admin.Options{
		Pprof: cfg.Admin.Pprof, Hosts: cfg.Admin.Hosts, Token: cfg.Admin.Token,
		Version: versionString(), Started: processStart, History: history}), ReadHeaderTimeout: 10 * time.Second}
	go d.admin.Serve(ln)
	d.log.Info("admin listening", "addr", ln.Addr().String())
	return nil
}

func (d *daemon) adminAddr() string {
	if d.adminLn == nil {
		return ""
	}
	return d.adminLn.Addr().String()
}

// watchCertificates reloads when a certificate, key, client CA or session ticket key file of
// the running configuration changes on disk (checked every few seconds), as if SIGHUP had been sent.
func (d *daemon) watchCertificates() (stop func()) {
	done := make(chan struct{})
	go func() {
		tick := time.NewTicker(certPollInterval)
		defer tick.Stop()
		last := d.srv.CertificateFiles()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
				if now := d.srv.CertificateFiles(); now != last {
					last = now
					d.log.Info("certificate files changed on disk; reloading")
					if err := d.Reload(context.Background()); err != nil {
						d.log.Error("reload after a certificate change rejected", "err", err)
					}
				}
			}
		}
	}()
	return sync.OnceFunc(func() { close(done) })
}

// certPollInterval is how often certificate and ticket key files are checked for changes.
var certPollInterval = 2 * time.Second

// printProblems prints a configuration error: one problem per line, each with its position.
func printProblems(w io.Writer, err error) {
	var ps conf.Problems
	if errors.As(err, &ps) {
		for _, p := range ps {
			fmt.Fprintln(w, p.Error())
		}
		return
	}
	fmt.Fprintln(w, err)
}
