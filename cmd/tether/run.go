package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/tether-proxy/tether/conf"
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

// serve runs cfg until SIGINT or SIGTERM, then drains: listeners close at once, open tunnels
// get cfg.DrainTimeout to finish, the rest are closed. A second signal closes them at once.
func serve(cfg *conf.Config, log *slog.Logger) error {
	ctx := context.Background()
	srv, err := listener.New(ctx, cfg, listener.Options{Logger: log})
	if err != nil {
		return err
	}
	if err := srv.Listen(ctx); err != nil {
		return err
	}
	for _, l := range cfg.Listeners {
		log.Info("listening", "listener", l.Name, "addr", srv.Addr(l.Name).String(),
			"tls", l.TLS != nil, "preamble", string(l.Preamble), "upstream", l.Upstream)
	}
	served := make(chan struct{})
	go func() { srv.Serve(); close(served) }()

	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	defer signal.Stop(sigs)
	for sig := range sigs {
		if sig == syscall.SIGHUP {
			log.Warn("SIGHUP ignored: this version cannot reload its configuration; restart to apply changes")
			continue
		}
		log.Info("shutting down", "signal", sig.String(), "drain_timeout", cfg.DrainTimeout, "connections", srv.Active())
		break
	}
	dctx, cancel := context.WithTimeout(ctx, cfg.DrainTimeout)
	defer cancel()
	go func() {
		if sig, ok := <-sigs; ok {
			log.Warn("second signal: closing all connections now", "signal", sig.String())
			cancel()
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
