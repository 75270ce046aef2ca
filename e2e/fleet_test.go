//go:build linux

package e2e

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tether-proxy/tether/internal/dnsmasqtest"
	"github.com/tether-proxy/tether/tlsterm"
)

// The fleet's addresses, all in 198.18.0.0/15 (RFC 2544, benchmarking), inside namespaces
// only: clients on 198.18.4.0/22, box i on 198.18.(17+i).0/24, backends and DNS on
// 198.18.32.0/24, and the service address every box holds.
const (
	fleetVIP      = "198.18.100.1"
	fleetClients  = 300
	fleetBoxes    = 3
	fleetBackends = 4
	fleetSRV      = "_wss._tcp.app.test"
)

// fleetBackendIP is the address of backend b (1-based); its DNS name is bN.test.
func fleetBackendIP(b int) string { return fmt.Sprintf("198.18.32.%d", 10+b) }

// fleetBoxIP is the address of box i (0-based) on its link to the router.
func fleetBoxIP(i int) string { return fmt.Sprintf("198.18.%d.2", 17+i) }

// fleet is the ECMP fleet of TestFleet: namespaces, processes and what the clients need.
type fleet struct {
	t        *testing.T
	binary   string
	dir      string
	config   string // the one configuration file every box runs
	router   *netns
	clients  *netns
	boxes    []*netns
	backends *netns
	procs    []*child // by box; nil while a box is down
	dns      *dnsmasqtest.Server
	staging  *dnsmasqtest.Server // the DNS records of a planned change, for tether diff and lookup
	roots    *x509.CertPool
	addrs    []netip.Addr             // client addresses
	caches   []tls.ClientSessionCache // by client
}

// landing is where one client connection went: the backend that answered and the box the
// backend saw it come from.
type landing struct {
	backend string // the backend's DNS name, e.g. "b2.test"
	box     int
	resumed bool
}

// TestFleet runs three tether boxes behind a Linux ECMP route (flows hashed on their ports,
// fib_multipath_hash_policy=1), each box in its own network namespace with the same
// configuration and the same session ticket key, the backends named by SRV records of one
// dnsmasq. It shows that
//
//	(i)   300 clients x 5 reconnects land on different boxes yet always on the backend
//	      `tether lookup` names;
//	(iv)  every reconnect resumes its TLS session (1.2 and 1.3), also when it lands on another
//	      box than the one that issued the ticket;
//	(ii)  when a box is killed (and the router withdraws it), its clients reconnect through the
//	      others to the same backends, and the other boxes' tunnels go on;
//	(iii) when a backend leaves DNS, every box moves exactly the clients `tether lookup` and
//	      `tether diff` predicted from the planned records, no others;
//	(v)   a blackholed backend is marked down by every box's active checks, the boxes agree on
//	      where its clients go meanwhile, and agree again once it is back.
func TestFleet(t *testing.T) {
	prefix := requireNetns(t)
	dnsmasqtest.Require(t)
	f := newFleet(t, prefix)
	for i := range fleetBoxes {
		f.startBox(i)
	}
	f.reconnects()
	f.killBox()
	f.dnsRemoval()
	f.blackhole()
}

// newFleet builds the namespaces, addresses and routes, the backends, DNS and files.
func newFleet(t *testing.T, prefix string) *fleet {
	f := &fleet{t: t, binary: tetherBinary(t), dir: t.TempDir()}
	f.router = newNetns(t, prefix+"-r")
	f.clients = newNetns(t, prefix+"-c")
	f.backends = newNetns(t, prefix+"-k")
	f.router.sysctl("net.ipv4.ip_forward", "1")
	f.router.sysctl("net.ipv4.fib_multipath_hash_policy", "1")
	if got := f.router.readSysctl("net.ipv4.fib_multipath_hash_policy"); got != "1" {
		t.Fatalf("fib_multipath_hash_policy is %s in the router, want 1 (flows hashed on their ports)", got)
	}

	veth(f.router, "r-c", "198.18.4.1/22", f.clients, "eth0", "198.18.4.2/22")
	f.clients.ip("route", "add", "default", "via", "198.18.4.1")
	var adds []string
	base := netip.MustParseAddr("198.18.4.10")
	for range fleetClients {
		f.addrs = append(f.addrs, base)
		f.caches = append(f.caches, tls.NewLRUClientSessionCache(2))
		adds = append(adds, "addr add "+base.String()+"/22 dev eth0")
		base = base.Next()
	}
	f.clients.batch(adds)

	veth(f.router, "r-k", "198.18.32.1/24", f.backends, "eth0", "198.18.32.2/24")
	f.backends.ip("addr", "add", "198.18.32.3/24", "dev", "eth0")
	for b := 1; b <= fleetBackends; b++ {
		f.backends.ip("addr", "add", fleetBackendIP(b)+"/24", "dev", "eth0")
	}
	f.backends.ip("route", "add", "default", "via", "198.18.32.1")

	for i := range fleetBoxes {
		box := newNetns(t, fmt.Sprintf("%s-b%d", prefix, i+1))
		veth(f.router, fmt.Sprintf("r-b%d", i+1), fmt.Sprintf("198.18.%d.1/24", 17+i), box, "eth0", fleetBoxIP(i)+"/24")
		box.ip("addr", "add", fleetVIP+"/32", "dev", "lo")
		box.ip("route", "add", "default", "via", fmt.Sprintf("198.18.%d.1", 17+i))
		f.boxes = append(f.boxes, box)
	}
	f.procs = make([]*child, fleetBoxes)
	f.route(0, 1, 2)

	for b := 1; b <= fleetBackends; b++ {
		f.backend(b)
	}
	all := f.records(1, 2, 3, 4)
	f.dns = f.startDNS("198.18.32.2", all)
	f.staging = f.startDNS("198.18.32.3", f.records(1, 2, 3))
	f.writeFiles()
	return f
}

// route points the router's multipath route to the service address at the given boxes.
func (f *fleet) route(boxes ...int) {
	args := []string{"route", "replace", fleetVIP + "/32"}
	for _, i := range boxes {
		args = append(args, "nexthop", "via", fleetBoxIP(i))
	}
	f.router.ip(args...)
}

// backend runs backend b: it greets every connection with its DNS name and the address the
// connection came from (a box), then echoes.
func (f *fleet) backend(b int) {
	ln := f.backends.listen(fleetBackendIP(b) + ":7000")
	name := fmt.Sprintf("b%d.test", b)
	var mu sync.Mutex
	var conns []net.Conn
	f.t.Cleanup(func() {
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			go func() {
				defer c.Close()
				from, _, _ := net.SplitHostPort(c.RemoteAddr().String())
				if _, err := fmt.Fprintf(c, "%s %s\n", name, from); err == nil {
					io.Copy(c, c)
				}
			}()
		}
	}()
}

// records are the SRV records naming backends bs, all of priority 0 and weight 1.
func (f *fleet) records(bs ...int) []dnsmasqtest.SRV {
	var out []dnsmasqtest.SRV
	for _, b := range bs {
		out = append(out, dnsmasqtest.SRV{Name: fleetSRV, Target: fmt.Sprintf("b%d.test", b), Port: 7000, Weight: 1})
	}
	return out
}

// startDNS runs dnsmasq in the backends' namespace on addr:53 with the backends' names and srv.
func (f *fleet) startDNS(addr string, srv []dnsmasqtest.SRV) *dnsmasqtest.Server {
	hosts := map[string][]string{}
	for b := 1; b <= fleetBackends; b++ {
		hosts[fmt.Sprintf("b%d.test", b)] = []string{fleetBackendIP(b)}
	}
	return dnsmasqtest.Start(f.t, dnsmasqtest.Options{TTL: 1, SRV: srv, Netns: f.backends.name,
		Listen: netip.MustParseAddrPort(addr + ":53"),
		Dial: func(ctx context.Context, network, a string) (net.Conn, error) {
			return f.backends.dial(ctx, nil, network, a)
		}}, hosts)
}

// writeFiles writes the certificate, the ticket key and the configuration every box runs, and
// the same configuration reading the staging DNS (the planned records).
func (f *fleet) writeFiles() {
	cert, err := tlsterm.SelfSigned("fleet.test")
	if err != nil {
		f.t.Fatal(err)
	}
	if _, _, err := tlsterm.WritePEM(f.dir, cert); err != nil {
		f.t.Fatal(err)
	}
	f.roots = x509.NewCertPool()
	f.roots.AddCert(cert.Leaf)
	key := make([]byte, 80)
	rand.Read(key)
	if err := os.WriteFile(filepath.Join(f.dir, "ticket.key"), key, 0o600); err != nil {
		f.t.Fatal(err)
	}
	config := func(resolver string) string {
		return fmt.Sprintf(`
[[listeners]]
name = "wss"
listen = "0.0.0.0:443"
upstream = "app"
preamble = "none"
  [listeners.tls]
  cert = "cert.pem"
  key = "key.pem"
  session_ticket_key = ["ticket.key"]

[upstreams.app]
servers = ["app.test service=_wss._tcp resolve"]
resolver = %q
  [upstreams.app.health_check]
  type = "tcp"
  interval = "500ms"
  timeout = "250ms"
  rise = 2
  fall = 2
`, resolver)
	}
	f.config = writeFile(f.t, f.dir, "box.toml", config("198.18.32.2"))
	writeFile(f.t, f.dir, "staging.toml", config("198.18.32.3"))
}

// startBox runs box i and waits until it listens.
func (f *fleet) startBox(i int) {
	f.t.Helper()
	c := startChild(f.t, fmt.Sprintf("box%d", i+1), f.boxes[i].command(f.binary, "run", "-c", f.config))
	c.waitFor(f.t, `"msg":"listening"`, 30*time.Second)
	f.procs[i] = c
}

// open connects client c to addr (the service address or a box's own), completes TLS and
// reads the backend's greeting. The connection stays open for the caller.
func (f *fleet) open(c int, addr string) (*tls.Conn, landing, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	raw, err := f.clients.dial(ctx, &net.TCPAddr{IP: f.addrs[c].AsSlice()}, "tcp", addr+":443")
	if err != nil {
		return nil, landing{}, err
	}
	version := uint16(tls.VersionTLS12)
	if c%2 == 1 {
		version = tls.VersionTLS13
	}
	conn := tls.Client(raw, &tls.Config{ServerName: "fleet.test", RootCAs: f.roots, ClientSessionCache: f.caches[c],
		MinVersion: version, MaxVersion: version})
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		conn.Close()
		return nil, landing{}, fmt.Errorf("client %s: %w", f.addrs[c], err)
	}
	conn.SetDeadline(time.Time{})
	name, from, _ := strings.Cut(strings.TrimSpace(line), " ")
	l := landing{backend: name, box: -1, resumed: conn.ConnectionState().DidResume}
	for i := range fleetBoxes {
		if from == fleetBoxIP(i) {
			l.box = i
		}
	}
	return conn, l, nil
}

// connect is open, closing the connection at once.
func (f *fleet) connect(c int, addr string) (landing, error) {
	conn, l, err := f.open(c, addr)
	if err == nil {
		conn.Close()
	}
	return l, err
}

// each runs do for every client, 24 at a time, and fails the test on the first error.
func (f *fleet) each(clients []int, do func(c int) error) {
	f.t.Helper()
	sem := make(chan struct{}, 24)
	errs := make(chan error, len(clients))
	var wg sync.WaitGroup
	for _, c := range clients {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			if err := do(c); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		f.t.Fatal(err)
	}
}

// allClients lists every client index.
func allClients() []int {
	out := make([]int, fleetClients)
	for i := range out {
		out[i] = i
	}
	return out
}

// lookup asks `tether lookup`, run in box 1's namespace with config, where each client goes.
func (f *fleet) lookup(config string) []string {
	f.t.Helper()
	cmd := f.boxes[0].command(f.binary, "lookup", "-c", config, "-l", "wss", "-")
	var in strings.Builder
	for _, a := range f.addrs {
		in.WriteString(a.String() + "\n")
	}
	cmd.Stdin = strings.NewReader(in.String())
	out, err := cmd.CombinedOutput()
	if err != nil {
		f.t.Fatalf("tether lookup: %v\n%s", err, out)
	}
	byAddr := map[string]string{}
	for line := range strings.Lines(string(out)) {
		if fs := strings.Fields(line); len(fs) == 3 {
			byAddr[fs[0]] = fs[2]
		}
	}
	names := make([]string, fleetClients)
	for i, a := range f.addrs {
		if names[i] = byAddr[a.String()]; names[i] == "" {
			f.t.Fatalf("tether lookup named no backend for %s:\n%s", a, out)
		}
	}
	return names
}

// reconnects shows (i) and (iv): every client connects five times through the service
// address; ECMP spreads the connections over the boxes, yet each client always reaches the
// backend `tether lookup` names, and every reconnect resumes its TLS session, across boxes.
func (f *fleet) reconnects() {
	want := f.lookup(f.config)
	const rounds = 5
	got := make([][]landing, fleetClients)
	f.each(allClients(), func(c int) error {
		for range rounds {
			l, err := f.connect(c, fleetVIP)
			if err != nil {
				return err
			}
			got[c] = append(got[c], l)
		}
		return nil
	})
	perBox := make([]int, fleetBoxes)
	spread, crossResumed := 0, map[string]int{}
	for c, ls := range got {
		boxes := map[int]bool{}
		for r, l := range ls {
			if l.backend != want[c] {
				f.t.Fatalf("(i) client %s reached %s on connection %d through box %d; tether lookup names %s", f.addrs[c], l.backend, r+1, l.box+1, want[c])
			}
			if r > 0 && !l.resumed {
				f.t.Fatalf("(iv) client %s: reconnect %d (box %d, after box %d) did not resume its TLS session", f.addrs[c], r, l.box+1, ls[r-1].box+1)
			}
			if r > 0 && l.box != ls[r-1].box {
				crossResumed[tlsName(c)]++
			}
			boxes[l.box] = true
			perBox[max(l.box, 0)]++
		}
		if len(boxes) > 1 {
			spread++
		}
	}
	f.t.Logf("(i) %d connections: per box %v; %d of %d clients reached 2 or 3 boxes, each always its lookup backend", fleetClients*rounds, perBox, spread, fleetClients)
	f.t.Logf("(iv) every reconnect resumed; resumed on another box than the previous connection: %v", crossResumed)
	for i, n := range perBox {
		if n == 0 {
			f.t.Fatalf("(i) box %d got no connection: ECMP did not spread the flows (%v)", i+1, perBox)
		}
	}
	if spread < fleetClients/2 {
		f.t.Fatalf("(i) only %d of %d clients reached more than one box", spread, fleetClients)
	}
	if crossResumed["TLS 1.2"] == 0 || crossResumed["TLS 1.3"] == 0 {
		f.t.Fatalf("(iv) no session resumed on another box for some version: %v", crossResumed)
	}
}

func tlsName(c int) string {
	if c%2 == 1 {
		return "TLS 1.3"
	}
	return "TLS 1.2"
}

// tunnel is a client's open connection and where it went.
type tunnel struct {
	conn *tls.Conn
	at   landing
}

// echo sends a line and expects it back.
func (tu *tunnel) echo(msg string) error {
	tu.conn.SetDeadline(time.Now().Add(5 * time.Second))
	defer tu.conn.SetDeadline(time.Time{})
	if _, err := io.WriteString(tu.conn, msg); err != nil {
		return err
	}
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(tu.conn, got); err != nil {
		return err
	}
	if string(got) != msg {
		return fmt.Errorf("echo %q, want %q", got, msg)
	}
	return nil
}

// killBox shows (ii): with a tunnel open for every client, box 2 is killed and the router
// withdraws it (as a routing daemon would); its clients reconnect through the other boxes to
// the same backends, and the tunnels through the other boxes go on. Box 2 then comes back with
// the same files. It is the middle next hop on purpose: Linux's hash-threshold multipath gives
// each next hop a slice of the hash space, and withdrawing the middle one leaves the outer two
// their flows (withdrawing an outer one moves part of a survivor's flows too, which breaks
// them; fleets that withdraw any box use resilient next-hop groups or a load balancer with
// consistent hashing for that).
func (f *fleet) killBox() {
	const dead = 1
	tunnels := make([]*tunnel, fleetClients)
	f.each(allClients(), func(c int) error {
		conn, l, err := f.open(c, fleetVIP)
		tunnels[c] = &tunnel{conn, l}
		return err
	})
	defer func() {
		for _, tu := range tunnels {
			tu.conn.Close()
		}
	}()
	f.procs[dead].stop()
	f.procs[dead] = nil
	f.route(0, 2)
	var mu sync.Mutex
	moved, kept := 0, 0
	f.each(allClients(), func(c int) error {
		tu := tunnels[c]
		err := tu.echo("still there?")
		if tu.at.box != dead {
			if err != nil {
				return fmt.Errorf("(ii) client %s: its tunnel through box %d broke when box %d died: %w", f.addrs[c], tu.at.box+1, dead+1, err)
			}
			mu.Lock()
			kept++
			mu.Unlock()
			return nil
		}
		if err == nil {
			return fmt.Errorf("(ii) client %s: its tunnel through the killed box still echoes", f.addrs[c])
		}
		l, err := f.connect(c, fleetVIP)
		if err != nil {
			return err
		}
		if l.backend != tu.at.backend || l.box == dead {
			return fmt.Errorf("(ii) client %s reconnected through box %d to %s; it was on %s", f.addrs[c], l.box+1, l.backend, tu.at.backend)
		}
		mu.Lock()
		moved++
		mu.Unlock()
		return nil
	})
	f.t.Logf("(ii) box %d killed: %d clients reconnected through the other boxes, all to their backend; %d tunnels through the others went on", dead+1, moved, kept)
	if moved == 0 {
		f.t.Fatal("(ii) no client was on the killed box")
	}
	f.startBox(dead)
	f.route(0, 1, 2)
}

// viaEveryBox connects each client directly to every box (not through ECMP) and returns the
// backends: [client][box].
func (f *fleet) viaEveryBox(clients []int) [][]string {
	got := make([][]string, fleetClients)
	f.each(clients, func(c int) error {
		for i := range fleetBoxes {
			l, err := f.connect(c, fleetBoxIP(i))
			if err != nil {
				return err
			}
			got[c] = append(got[c], l.backend)
		}
		return nil
	})
	return got
}

// movedRe reads tether diff's summary line.
var movedRe = regexp.MustCompile(`upstream app: [0-9.]+% of clients move to another backend \((\d+) of (\d+)\)`)

// dnsRemoval shows (iii): b4.test leaves the SRV records. Before the change, `tether lookup` and
// `tether diff` read the planned records from a staging DNS server; after it, every box sends
// every client exactly where lookup predicted, so only b4's clients moved.
func (f *fleet) dnsRemoval() {
	before := f.lookup(f.config)
	staging := filepath.Join(f.dir, "staging.toml")
	predicted := f.lookup(staging)
	clientsFile := filepath.Join(f.dir, "clients.txt")
	var lines strings.Builder
	for _, a := range f.addrs {
		lines.WriteString(a.String() + "\n")
	}
	if err := os.WriteFile(clientsFile, []byte(lines.String()), 0o644); err != nil {
		f.t.Fatal(err)
	}
	out, err := f.boxes[0].command(f.binary, "diff", "-addrs", clientsFile, f.config, staging).CombinedOutput()
	m := movedRe.FindSubmatch(out)
	if err != nil || m == nil {
		f.t.Fatalf("tether diff: %v\n%s", err, out)
	}
	diffMoved, _ := strconv.Atoi(string(m[1]))
	movers := 0
	for c := range before {
		if before[c] != predicted[c] {
			movers++
			if before[c] != "b4.test" {
				f.t.Fatalf("(iii) lookup predicts client %s moves from %s, which stays in DNS", f.addrs[c], before[c])
			}
		}
	}
	if movers != diffMoved || movers == 0 {
		f.t.Fatalf("(iii) tether lookup predicts %d movers, tether diff %d:\n%s", movers, diffMoved, out)
	}
	f.dns.SetSRV(f.records(1, 2, 3))
	for i := range fleetBoxes {
		f.procs[i].waitFor(f.t, `"msg":"server addresses changed"`, 15*time.Second)
	}
	got := f.viaEveryBox(allClients())
	for c := range got {
		for i, b := range got[c] {
			if b != predicted[c] {
				f.t.Fatalf("(iii) after b4 left DNS box %d sends client %s to %s; predicted %s (before: %s)", i+1, f.addrs[c], b, predicted[c], before[c])
			}
		}
	}
	f.t.Logf("(iii) b4 left DNS: tether diff and lookup predicted %d of %d clients to move; every box moved exactly those", movers, fleetClients)
}

// blackhole shows (v): the router drops everything to b3; every box's active checks mark it
// down, the boxes agree on where its clients go meanwhile, and once the route is back every
// box marks it up and sends its clients to it again.
func (f *fleet) blackhole() {
	owners := f.lookup(f.config)
	var b3 []int
	for c, b := range owners {
		if b == "b3.test" {
			b3 = append(b3, c)
		}
	}
	if len(b3) == 0 {
		f.t.Fatal("(v) no client belongs to b3")
	}
	f.router.ip("route", "add", "blackhole", fleetBackendIP(3)+"/32")
	start := time.Now()
	f.t.Logf("(v) b3 blackholed; fall x interval = 2 x 500ms; marked down by box 1..3 after %v", f.waitLog("backend unhealthy", start))
	during := f.viaEveryBox(b3)
	for _, c := range b3 {
		for i, b := range during[c] {
			if b == "b3.test" || b != during[c][0] {
				f.t.Fatalf("(v) with b3 down, client %s goes to %v through boxes 1..3 (box %d disagrees)", f.addrs[c], during[c], i+1)
			}
		}
	}
	f.router.ip("route", "del", "blackhole", fleetBackendIP(3)+"/32")
	start = time.Now()
	f.t.Logf("(v) route back; marked up by box 1..3 after %v", f.waitLog("backend healthy", start))
	after := f.viaEveryBox(b3)
	for _, c := range b3 {
		for i, b := range after[c] {
			if b != "b3.test" {
				f.t.Fatalf("(v) b3 is back, yet box %d sends its client %s to %s", i+1, f.addrs[c], b)
			}
		}
	}
	f.t.Logf("(v) %d clients of b3: moved to the same backend on every box while it was down, back to b3 on every box after", len(b3))
}

// waitLog waits until every box logged msg for b3.test (a line after those there when it was
// called) and returns about how long each took since start (an upper bound: the boxes are
// looked at in turn).
func (f *fleet) waitLog(msg string, start time.Time) []time.Duration {
	f.t.Helper()
	count := func(out string) int {
		n := 0
		for line := range strings.Lines(out) {
			if strings.Contains(line, `"msg":"`+msg+`"`) && strings.Contains(line, `"server":"b3.test"`) {
				n++
			}
		}
		return n
	}
	seen := make([]int, fleetBoxes)
	for i, p := range f.procs {
		seen[i] = count(p.output())
	}
	took := make([]time.Duration, fleetBoxes)
	for i, p := range f.procs {
		if err := p.waitUntil(msg+" for b3.test", func(out string) bool { return count(out) > seen[i] }, 15*time.Second); err != nil {
			f.t.Fatal(err)
		}
		took[i] = time.Since(start).Round(10 * time.Millisecond)
	}
	return took
}
