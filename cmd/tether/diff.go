package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"slices"
	"sort"
	"strings"

	"github.com/tether-proxy/tether/balance"
	"github.com/tether-proxy/tether/conf"
	"github.com/tether-proxy/tether/upstream"
)

// Sampling bounds for tether diff.
const (
	defaultDiffSample = 100_000
	maxDiffSample     = 10_000_000
)

// cmdDiff compares two configurations: for every upstream in both it runs the live selection
// code (upstream.Pool.Lookup, host names resolved) for the same client addresses under each
// and reports the share of clients that would land on another backend, from which backend to
// which, and each backend's share of the hash ring before and after.
func cmdDiff(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("tether diff", flag.ContinueOnError)
	fs.SetOutput(stderr)
	n := fs.Int("n", defaultDiffSample, "number of IPv4 client addresses to sample, one from each of N equal slices of the address space")
	seed := fs.Uint64("seed", 1, "seed of the sample (the same seed gives the same addresses)")
	addrsFile := fs.String("addrs", "", "use the client addresses in this file instead of a sample: the first field of each line (an address, optionally with a port, e.g. an access log); - is stdin")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: tether diff [-n N] [-seed S] [-addrs FILE] OLD.toml NEW.toml")
		fs.PrintDefaults()
	}
	files, err := parseInterleaved(fs, args)
	if err != nil {
		return 2
	}
	if len(files) != 2 || *n < 1 || *n > maxDiffSample {
		if *n < 1 || *n > maxDiffSample {
			fmt.Fprintf(stderr, "tether diff: -n must be from 1 to %d\n", maxDiffSample)
		}
		fs.Usage()
		return 2
	}
	var cfgs [2]*conf.Config
	for i, f := range files {
		c, err := conf.Load(f)
		if err != nil {
			printProblems(stderr, err)
			return 1
		}
		cfgs[i] = c
	}
	var s sample
	if *addrsFile != "" {
		s, err = readAddrs(*addrsFile)
		if err != nil {
			fmt.Fprintln(stderr, "tether diff:", err)
			return 1
		}
	} else {
		s = sampleIPv4(*n, *seed)
	}
	out := bufio.NewWriter(stdout)
	defer out.Flush()
	fmt.Fprintf(out, "tether diff %s %s\n", files[0], files[1])
	fmt.Fprintf(out, "clients: %s\n", s.what)
	fmt.Fprintln(out, "backends are named by their server lines; every backend not marked down is assumed healthy")
	return diffConfigs(context.Background(), out, cfgs[0], cfgs[1], s.addrs, net.DefaultResolver)
}

// parseInterleaved parses flags that may come before, between or after the positional
// arguments, and returns the positional ones.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

// sample is the set of client addresses a diff is computed over.
type sample struct {
	addrs []netip.Addr
	what  string // how the addresses were chosen, for the output
}

// sampleIPv4 returns n IPv4 addresses spread evenly over the whole space: the space is cut
// into n equal slices and one address is drawn uniformly from each with a PCG generator
// seeded with seed, so the same n and seed always give the same addresses.
func sampleIPv4(n int, seed uint64) sample {
	r := rand.New(rand.NewPCG(seed, seed))
	addrs := make([]netip.Addr, n)
	for i := range n {
		lo := uint64(i) << 32 / uint64(n)
		hi := uint64(i+1) << 32 / uint64(n)
		v := uint32(lo + r.Uint64N(hi-lo))
		addrs[i] = netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
	}
	return sample{addrs: addrs, what: fmt.Sprintf("a sample of %d IPv4 addresses, one drawn uniformly from each of %d equal slices of 0.0.0.0/0 (PCG seed %d; -n, -seed)", n, n, seed)}
}

// readAddrs reads client addresses from the first field of each line of a file (or stdin for
// "-"), as in an access log, keeping each distinct address once. Blank lines and lines
// starting with "#" are skipped; lines that do not start with an address are counted.
func readAddrs(path string) (sample, error) {
	f := os.Stdin
	if path != "-" {
		var err error
		if f, err = os.Open(path); err != nil {
			return sample{}, err
		}
		defer f.Close()
	}
	seen := map[netip.Addr]bool{}
	var s sample
	lines, bad := 0, 0
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 || strings.HasPrefix(fields[0], "#") {
			continue
		}
		lines++
		a, err := parseClient(strings.Trim(fields[0], `"`))
		if err != nil {
			bad++
			continue
		}
		if a = a.Unmap(); !seen[a] {
			seen[a] = true
			s.addrs = append(s.addrs, a)
		}
	}
	if err := sc.Err(); err != nil {
		return sample{}, fmt.Errorf("reading %s: %w", path, err)
	}
	if len(s.addrs) == 0 {
		return sample{}, fmt.Errorf("%s: no client addresses (want one at the start of each line)", path)
	}
	s.what = fmt.Sprintf("%d distinct addresses from %s (%d lines", len(s.addrs), path, lines)
	if bad > 0 {
		s.what += fmt.Sprintf(", %d not starting with an address skipped", bad)
	}
	s.what += ")"
	return s, nil
}

// diffConfigs writes the diff of every upstream and listener of two configurations. It
// returns the exit status.
func diffConfigs(ctx context.Context, out io.Writer, oldCfg, newCfg *conf.Config, addrs []netip.Addr, r upstream.Resolver) int {
	for _, l := range newCfg.Listeners {
		for _, o := range oldCfg.Listeners {
			if o.Name == l.Name && o.Upstream != l.Upstream {
				fmt.Fprintf(out, "\nlistener %s: upstream %s -> %s: its clients change upstream\n", l.Name, o.Upstream, l.Upstream)
			}
		}
	}
	for _, name := range upstreamNames(oldCfg, newCfg) {
		ou, nu := oldCfg.Upstreams[name], newCfg.Upstreams[name]
		switch {
		case nu == nil:
			fmt.Fprintf(out, "\nupstream %s: removed (only in %s)\n", name, oldCfg.File)
			continue
		case ou == nil:
			fmt.Fprintf(out, "\nupstream %s: added (only in %s), servers: %s\n", name, newCfg.File, strings.Join(serverNames(nu), ", "))
			continue
		}
		var pools [2]*upstream.Pool
		for i, u := range []*conf.Upstream{ou, nu} {
			p, err := upstream.New(ctx, u, r, nil)
			if err != nil {
				fmt.Fprintf(out, "\nupstream %s: %v\n", name, err)
				return 1
			}
			pools[i] = p
		}
		if m := noDiff(pools); m != nil {
			fmt.Fprintf(out, "\nupstream %s: balance %s (%s) chooses by load, not by client: no per-client comparison\n", name, m.Name, m.Reproduces)
			continue
		}
		d := diffPools(pools[0], pools[1], dualStack(oldCfg, name), dualStack(newCfg, name), addrs)
		d.oldBalance, d.newBalance = ou.Balance, nu.Balance
		d.write(out)
	}
	return 0
}

// noDiff returns the method of a pool whose clients cannot be compared (its Diff trait is
// off), or nil.
func noDiff(pools [2]*upstream.Pool) *balance.Method {
	for _, p := range pools {
		if m := p.Method(); !m.Diff {
			return &m
		}
	}
	return nil
}

// upstreamNames lists the upstreams of both configurations: the old one's in file order,
// then those only in the new one.
func upstreamNames(oldCfg, newCfg *conf.Config) []string {
	byLine := func(c *conf.Config) []string {
		names := make([]string, 0, len(c.Upstreams))
		for n := range c.Upstreams {
			names = append(names, n)
		}
		sort.Slice(names, func(i, j int) bool {
			a, b := c.Upstreams[names[i]], c.Upstreams[names[j]]
			return a.Line < b.Line || a.Line == b.Line && names[i] < names[j]
		})
		return names
	}
	names := byLine(oldCfg)
	for _, n := range byLine(newCfg) {
		if oldCfg.Upstreams[n] == nil {
			names = append(names, n)
		}
	}
	return names
}

func serverNames(u *conf.Upstream) []string {
	var names []string
	for _, s := range u.Servers {
		names = append(names, s.Name)
	}
	return names
}

// dualStack reports whether the first listener sending to upstream name is an IPv6 socket
// with ipv6only = false, where nginx (and tether) hash an IPv4 client as ::ffff:a.b.c.d.
func dualStack(c *conf.Config, name string) bool {
	for _, l := range c.Listeners {
		if l.Upstream == name {
			return l.Addr.Addr().Is6() && !l.IPv6Only
		}
	}
	return false
}

// noBackend labels clients for whom no backend is usable (every server down).
const noBackend = "(none)"

// upstreamDiff is the comparison of one upstream under two configurations.
type upstreamDiff struct {
	name                   string
	oldBalance, newBalance conf.Balance
	backends               []string          // old backends in server order, then new-only ones
	moves                  map[[2]string]int // [from, to] -> clients
	total, moved           int
	oldShare, newShare     map[string]float64 // ring share by server name
	oldDown, newDown       map[string]bool
}

// diffPools sends every address through both pools' Lookup (the selection code of live
// connections) and compares where each lands.
func diffPools(oldP, newP *upstream.Pool, oldDual, newDual bool, addrs []netip.Addr) *upstreamDiff {
	d := &upstreamDiff{name: newP.Name, moves: map[[2]string]int{}}
	d.oldShare, d.oldDown = shares(oldP)
	d.newShare, d.newDown = shares(newP)
	for _, p := range [2]*upstream.Pool{oldP, newP} {
		for _, peer := range p.Peers() {
			if !slices.Contains(d.backends, peer.Server.Name) {
				d.backends = append(d.backends, peer.Server.Name)
			}
		}
	}
	var key []byte
	lookup := func(p *upstream.Pool, a netip.Addr, dual bool) string {
		key = p.AppendKey(key[:0], a, a.Is4In6() || dual && a.Is4())
		if peer := p.Lookup(key); peer != nil {
			return peer.Server.Name
		}
		return noBackend
	}
	for _, a := range addrs {
		from, to := lookup(oldP, a, oldDual), lookup(newP, a, newDual)
		d.moves[[2]string{from, to}]++
		d.total++
		if from != to {
			d.moved++
		}
		if (from == noBackend || to == noBackend) && !slices.Contains(d.backends, noBackend) {
			d.backends = append(d.backends, noBackend)
		}
	}
	return d
}

// shares sums Table.Shares by server name and notes which servers are down.
func shares(p *upstream.Pool) (map[string]float64, map[string]bool) {
	s, down := map[string]float64{}, map[string]bool{}
	peers := p.Peers()
	for i, v := range p.Shares() {
		s[peers[i].Server.Name] += v
		if peers[i].Server.Down {
			down[peers[i].Server.Name] = true
		}
	}
	return s, down
}

// movedShare is the fraction of clients that change backend.
func (d *upstreamDiff) movedShare() float64 {
	if d.total == 0 {
		return 0
	}
	return float64(d.moved) / float64(d.total)
}

func (d *upstreamDiff) write(w io.Writer) {
	fmt.Fprintf(w, "\nupstream %s: %.2f%% of clients move to another backend (%d of %d)\n", d.name, 100*d.movedShare(), d.moved, d.total)
	if d.oldBalance != d.newBalance {
		fmt.Fprintf(w, "  balance %s -> %s\n", d.oldBalance, d.newBalance)
	}
	width := len("from \\ to")
	for _, b := range d.backends {
		width = max(width, len(b))
	}
	fmt.Fprintf(w, "  %-*s", width, "from \\ to")
	for _, b := range d.backends {
		fmt.Fprintf(w, "  %*s", width, b)
	}
	fmt.Fprintln(w)
	for _, from := range d.backends {
		fmt.Fprintf(w, "  %-*s", width, from)
		for _, to := range d.backends {
			cell := "."
			if c := d.moves[[2]string{from, to}]; c > 0 {
				cell = fmt.Sprintf("%.2f%%", 100*float64(c)/float64(d.total))
			}
			fmt.Fprintf(w, "  %*s", width, cell)
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintf(w, "  %-*s  %*s  %*s  %*s  %*s\n", width, "backend", 14, "ring share old", 14, "ring share new", 11, "clients old", 11, "clients new")
	for _, b := range d.backends {
		if b == noBackend {
			continue
		}
		var before, after int
		for k, c := range d.moves {
			if k[0] == b {
				before += c
			}
			if k[1] == b {
				after += c
			}
		}
		fmt.Fprintf(w, "  %-*s  %*s  %*s  %*s  %*s\n", width, b,
			14, shareText(d.oldShare, d.oldDown, b), 14, shareText(d.newShare, d.newDown, b),
			11, fmt.Sprintf("%.2f%%", 100*float64(before)/float64(max(d.total, 1))),
			11, fmt.Sprintf("%.2f%%", 100*float64(after)/float64(max(d.total, 1))))
	}
}

// shareText formats a ring share: "-" when the server is absent, "(down)" after a down one.
func shareText(share map[string]float64, down map[string]bool, name string) string {
	v, ok := share[name]
	switch {
	case !ok:
		return "-"
	case down[name]:
		return fmt.Sprintf("%.2f%% (down)", 100*v)
	}
	return fmt.Sprintf("%.2f%%", 100*v)
}
