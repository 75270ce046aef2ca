package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"path/filepath"

	"github.com/tether-proxy/tether/conf"
	"github.com/tether-proxy/tether/nginxconf"
)

// cmdImportNginx reads an nginx configuration (with its includes) and writes the equivalent
// tether TOML to stdout; every directive it cannot carry over goes to stderr as
// "FILE:LINE: directive: why". The exit status is 0 when a configuration was written, 1 when
// the nginx file cannot be read or holds nothing tether can proxy, 2 on a usage error.
func cmdImportNginx(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("tether import-nginx", flag.ContinueOnError)
	fs.SetOutput(stderr)
	prefix := fs.String("dir", "", "the directory relative include and certificate paths are resolved against (default: the directory of FILE, as nginx does); useful on a copy of a configuration whose includes stayed in /etc/nginx")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: tether import-nginx [-dir DIR] FILE > tether.toml")
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
	cfg, err := nginxconf.Load(file, *prefix)
	if err != nil {
		fmt.Fprintln(stderr, "tether import-nginx:", err)
		return 1
	}
	res, err := nginxconf.Translate(cfg)
	for _, n := range res.Notes {
		fmt.Fprintln(stderr, n)
	}
	if err != nil {
		fmt.Fprintf(stderr, "tether import-nginx: %s: %v\n", file, err)
		return 1
	}
	if _, err := stdout.Write(res.TOML); err != nil {
		fmt.Fprintln(stderr, "tether import-nginx:", err)
		return 1
	}
	fmt.Fprintf(stderr, "tether import-nginx: %d listeners, %d upstreams; %d directives not carried over or only in part (above)\n",
		res.Listeners, res.Upstreams, len(res.Notes))
	// Load the result the way `tether check` will, so that a problem (typically a certificate
	// file that is not on this machine) is seen now. Paths in the TOML are absolute, so the
	// directory given here does not matter.
	if _, err := conf.Parse(filepath.Join(cfg.Prefix, "tether.toml"), res.TOML); err != nil {
		var ps conf.Problems
		if errors.As(err, &ps) {
			for _, p := range ps {
				fmt.Fprintf(stderr, "tether import-nginx: warning: the imported configuration does not load here yet: %s: %s\n", p.Key, p.Msg)
			}
		} else {
			fmt.Fprintf(stderr, "tether import-nginx: warning: the imported configuration does not load here yet: %v\n", err)
		}
	}
	return 0
}
