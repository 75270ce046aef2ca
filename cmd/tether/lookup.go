package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"sort"
	"strings"

	"github.com/tether-proxy/tether/conf"
	"github.com/tether-proxy/tether/upstream"
)

// cmdLookup prints, for each client address, the backend a live connection from it would be
// sent to with every backend healthy (`down` servers skipped), through the same selection code
// the proxy runs. Addresses come from the arguments, or from standard input with "-".
func cmdLookup(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("tether lookup", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("c", "tether.toml", "configuration file")
	upName := fs.String("u", "", "upstream to ask (default: the listener's, or the only upstream)")
	lnName := fs.String("l", "", "listener the clients connect to (default: the first listener); its socket family decides the key spelling")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: tether lookup -c FILE [-u UPSTREAM | -l LISTENER] ADDR... (or - to read addresses from stdin)")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return 2
	}
	cfg, err := conf.Load(*path)
	if err != nil {
		printProblems(stderr, err)
		return 1
	}
	u, dualStack, err := lookupTarget(cfg, *upName, *lnName)
	if err != nil {
		fmt.Fprintln(stderr, "tether lookup:", err)
		return 2
	}
	pool, err := upstream.New(context.Background(), u, net.DefaultResolver, nil)
	if err != nil {
		fmt.Fprintln(stderr, "tether lookup:", err)
		return 1
	}
	if m := pool.Method(); !m.Lookup {
		fmt.Fprintf(stderr, "tether lookup: upstream %s: balance %s (%s) chooses by load, not by client: no client has a fixed backend\n", u.Name, m.Name, m.Reproduces)
		return 2
	}
	out := bufio.NewWriter(stdout)
	defer out.Flush()
	status := 0
	each := func(text string) {
		ip, err := parseClient(text)
		if err != nil {
			fmt.Fprintf(stderr, "tether lookup: %q: not an IP address\n", text)
			status = 1
			return
		}
		key := pool.AppendKey(nil, ip, ip.Is4In6() || (dualStack && ip.Is4()))
		if p := pool.Lookup(key); p != nil {
			fmt.Fprintf(out, "%s %s %s\n", text, p.String(), p.Server.Name)
		} else {
			fmt.Fprintf(out, "%s - -\n", text)
			status = 1
		}
	}
	for _, a := range fs.Args() {
		if a != "-" {
			each(a)
			continue
		}
		sc := bufio.NewScanner(os.Stdin)
		for sc.Scan() {
			if line := strings.TrimSpace(sc.Text()); line != "" && !strings.HasPrefix(line, "#") {
				each(line)
			}
		}
		if err := sc.Err(); err != nil {
			fmt.Fprintln(stderr, "tether lookup: reading stdin:", err)
			return 1
		}
	}
	return status
}

// lookupTarget picks the upstream to ask and whether the clients arrive on a dual-stack socket
// (an IPv6 listener with ipv6only = false), where nginx spells IPv4 clients ::ffff:a.b.c.d.
func lookupTarget(cfg *conf.Config, upName, lnName string) (*conf.Upstream, bool, error) {
	var ln *conf.Listener
	for _, l := range cfg.Listeners {
		if lnName == "" || l.Name == lnName {
			ln = l
			break
		}
	}
	if lnName != "" && ln == nil {
		return nil, false, fmt.Errorf("no listener named %q", lnName)
	}
	dualStack := ln != nil && ln.Addr.Addr().Is6() && !ln.IPv6Only
	switch {
	case upName != "":
		if u := cfg.Upstreams[upName]; u != nil {
			return u, dualStack, nil
		}
		names := make([]string, 0, len(cfg.Upstreams))
		for n := range cfg.Upstreams {
			names = append(names, n)
		}
		sort.Strings(names)
		return nil, false, fmt.Errorf("no upstream named %q (defined: %s)", upName, strings.Join(names, ", "))
	case ln != nil:
		return cfg.Upstreams[ln.Upstream], dualStack, nil
	}
	return nil, false, fmt.Errorf("configuration has no listener; name an upstream with -u")
}

// parseClient accepts an IP address, optionally with a port ("127.0.0.1:5555", "[::1]:80").
func parseClient(s string) (netip.Addr, error) {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr(), nil
	}
	a, err := netip.ParseAddr(strings.Trim(s, "[]"))
	if err != nil {
		return netip.Addr{}, err
	}
	return a.WithZone(""), nil
}
