package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"

	"github.com/tether-proxy/tether/conf"
	"github.com/tether-proxy/tether/listener"
)

// cmdCheck validates a configuration like `nginx -t`: syntax and every rule in package conf,
// then what only a start would find: host names resolve and certificates load. Nothing is bound.
func cmdCheck(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("tether check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("c", "tether.toml", "configuration file")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	cfg, err := conf.Load(*path)
	if err != nil {
		printProblems(stderr, err)
		fmt.Fprintf(stderr, "tether: configuration file %s test failed\n", *path)
		return 1
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	if _, err := listener.New(context.Background(), cfg, listener.Options{Logger: quiet}); err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", *path, err)
		fmt.Fprintf(stderr, "tether: configuration file %s test failed\n", *path)
		return 1
	}
	fmt.Fprintf(stdout, "tether: configuration file %s syntax is ok\n", *path)
	fmt.Fprintf(stdout, "tether: configuration file %s test is successful\n", *path)
	return 0
}
