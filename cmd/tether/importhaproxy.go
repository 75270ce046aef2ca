package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/tether-proxy/tether/conf"
	"github.com/tether-proxy/tether/haproxyconf"
)

// cmdImportHAProxy reads a haproxy.cfg and writes the equivalent tether TOML to stdout; every
// line it cannot carry over goes to stderr as "FILE:LINE: keyword: why". Nothing is written to
// stdout when the file has a syntax error. The exit status is 0 when a configuration was
// written, 1 when the file cannot be read, does not parse or holds nothing tether can proxy, 2
// on a usage error.
func cmdImportHAProxy(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("tether import-haproxy", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := fs.String("dir", "", "the directory relative crt paths are resolved against (default: the directory of FILE)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: tether import-haproxy [-dir DIR] FILE > tether.toml")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return 2
	}
	file := fs.Arg(0)
	data, err := os.ReadFile(file)
	if err != nil {
		fmt.Fprintln(stderr, "tether import-haproxy:", err)
		return 1
	}
	cfg, err := haproxyconf.Parse(file, data)
	if err != nil {
		fmt.Fprintln(stderr, "tether import-haproxy:", err)
		return 1
	}
	base := *dir
	if base == "" {
		if base, err = filepath.Abs(filepath.Dir(file)); err != nil {
			fmt.Fprintln(stderr, "tether import-haproxy:", err)
			return 1
		}
	}
	res, err := haproxyconf.Translate(cfg, base)
	for _, n := range res.Notes {
		fmt.Fprintln(stderr, n)
	}
	if err != nil {
		fmt.Fprintf(stderr, "tether import-haproxy: %s: %v\n", file, err)
		return 1
	}
	if _, err := stdout.Write(res.TOML); err != nil {
		fmt.Fprintln(stderr, "tether import-haproxy:", err)
		return 1
	}
	fmt.Fprintf(stderr, "tether import-haproxy: %d listeners, %d upstreams; %d lines not carried over or only in part (above)\n",
		res.Listeners, res.Upstreams, len(res.Notes))
	// Load the result the way `tether check` will, so that a problem (typically a certificate
	// file that is not on this machine) is seen now.
	if _, err := conf.Parse(filepath.Join(base, "tether.toml"), res.TOML); err != nil {
		var ps conf.Problems
		if errors.As(err, &ps) {
			for _, p := range ps {
				fmt.Fprintf(stderr, "tether import-haproxy: warning: the imported configuration does not load here yet: %s: %s\n", p.Key, p.Msg)
			}
		} else {
			fmt.Fprintf(stderr, "tether import-haproxy: warning: the imported configuration does not load here yet: %v\n", err)
		}
	}
	return 0
}
