package hashing

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tether-proxy/tether/internal/nginxtest"
)

// The differential test against a real nginx: random upstreams, each proxied by nginx and
// by nothing else; clients from many loopback source addresses; nginx's choice (the token the
// backend writes) must equal Table's for every connection.

type diffServer struct {
	name   string // as written on the server line
	weight int
	down   bool
	backup bool
}

type diffUpstream struct {
	mode    Mode
	servers []diffServer
	port    int // nginx's listen port for this upstream
}

func (u diffUpstream) conf(i int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "    upstream up_%d {\n", i)
	for _, s := range u.servers {
		fmt.Fprintf(&b, "        server %s", s.name)
		if s.weight != 1 || s.name[0] == 'l' { // also spell the default weight sometimes
			fmt.Fprintf(&b, " weight=%d", s.weight)
		}
		if s.down {
			b.WriteString(" down")
		}
		if s.backup {
			b.WriteString(" backup")
		}
		b.WriteString(";\n")
	}
	// `backup` is accepted only before the hash directive.
	if u.mode == Consistent {
		b.WriteString("        hash $remote_addr consistent;\n")
	} else {
		b.WriteString("        hash $remote_addr;\n")
	}
	fmt.Fprintf(&b, "    }\n    server {\n        listen 127.0.0.1:%d;\n        proxy_pass up_%d;\n"+
		"        proxy_connect_timeout 2s;\n    }\n", u.port, i)
	return b.String()
}

// table builds the Table and Health for u; addrsOf gives the number of addresses a name
// resolves to (one peer each).
func (u diffUpstream) table(t *testing.T, addrsOf func(string) int) (*Table, states) {
	var peers []Peer
	var h states
	for _, s := range u.servers {
		for range addrsOf(s.name) {
			peers = append(peers, Peer{Name: s.name, Weight: s.weight, Backup: s.backup})
			st := Usable
			if s.down {
				st = Down
			}
			h = append(h, st)
		}
	}
	tab, err := New(u.mode, peers)
	if err != nil {
		t.Fatal(err)
	}
	return tab, h
}

func TestNginxDifferential(t *testing.T) {
	nginxtest.Require(t)
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("TETHER_NGINX_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("TETHER_NGINX_SEED: %v", err)
		}
		seed = v
	}
	r := rand.New(rand.NewPCG(seed, 0x6e67696e78))
	t.Logf("seed %d (rerun with TETHER_NGINX_SEED=%d)", seed, seed)

	localhost, err := net.DefaultResolver.LookupNetIP(context.Background(), "ip", "localhost")
	if err != nil || len(localhost) == 0 {
		t.Fatalf("resolve localhost: %v", err)
	}
	addrsOf := func(name string) int {
		if strings.HasPrefix(name, "localhost:") {
			return len(localhost)
		}
		return 1
	}

	// Backends: one per server line, listening on every address the name resolves to; each
	// writes its server name and closes.
	newServer := func(weight int, down, isBackup bool) diffServer {
		s := diffServer{weight: weight, down: down, backup: isBackup}
		var addrs []netip.Addr
		switch r.IntN(3) {
		case 0:
			s.name = "localhost"
			addrs = localhost
		case 1:
			s.name = "127.0.0.1"
			addrs = []netip.Addr{netip.MustParseAddr("127.0.0.1")}
		default:
			a := netip.AddrFrom4([4]byte{127, 0, byte(1 + r.IntN(250)), byte(2 + r.IntN(250))})
			s.name = a.String()
			addrs = []netip.Addr{a}
		}
		host := s.name
		port := startBackend(t, addrs, func(port int) string { return fmt.Sprintf("%s:%d", host, port) })
		s.name = fmt.Sprintf("%s:%d", host, port)
		return s
	}
	var ups []diffUpstream
	// Random upstreams: 2-8 servers, weights 1-4, some down, some backup, some repeated lines.
	for i := range 4 {
		u := diffUpstream{mode: Consistent}
		if i%2 == 1 {
			u.mode = Plain
		}
		for range 2 + r.IntN(7) {
			if len(u.servers) > 0 && r.IntN(10) == 0 {
				u.servers = append(u.servers, u.servers[r.IntN(len(u.servers))]) // a repeated line
				continue
			}
			u.servers = append(u.servers, newServer(1+r.IntN(4), r.IntN(5) == 0, r.IntN(8) == 0))
		}
		u.servers[r.IntN(len(u.servers))].backup = false // nginx needs a primary server
		ups = append(ups, u)
	}
	// Most of the weight down: many keys miss 21 times and nginx falls back to round robin
	// between the two usable servers, alternating across connections.
	for _, mode := range []Mode{Consistent, Plain} {
		u := diffUpstream{mode: mode}
		for range 6 {
			u.servers = append(u.servers, newServer(4, true, false))
		}
		u.servers = append(u.servers, newServer(1, false, false), newServer(1, false, false),
			newServer(1, false, true))
		r.Shuffle(len(u.servers), func(i, j int) { u.servers[i], u.servers[j] = u.servers[j], u.servers[i] })
		ups = append(ups, u)
	}
	// Every primary down: round robin over the backups, weights 1 and 2.
	ups = append(ups, diffUpstream{mode: Mode(1 + r.IntN(2)), servers: []diffServer{
		newServer(1, true, false), newServer(2, true, false), newServer(1, false, true), newServer(2, false, true)}})

	ports := nginxtest.Start(t, len(ups), func(ports []int) string {
		var conf strings.Builder
		for i := range ups {
			ups[i].port = ports[i]
			conf.WriteString(ups[i].conf(i))
		}
		return conf.String()
	})

	var failures []string
	total := 0
	for ui, u := range ups {
		tab, h := u.table(t, addrsOf)
		seen := map[string]int{}
		for range 300 {
			src := netip.AddrFrom4([4]byte{127, byte(1 + r.IntN(254)), byte(r.IntN(256)), byte(1 + r.IntN(254))})
			got, err := dialThrough(src, u.port)
			if err != nil {
				t.Fatalf("seed %d: upstream %d client %s: %v", seed, ui, src, err)
			}
			key := AppendRemoteAddr(nil, src, false)
			want := ""
			if i := tab.Lookup(key, h); i >= 0 {
				want = tab.Peers()[i].Name
			}
			total++
			seen[got]++
			if got != want {
				failures = append(failures, fmt.Sprintf("upstream %d (%v) client %s: nginx %q, Table %q",
					ui, u.mode, src, got, want))
			}
		}
		t.Logf("upstream %d (%v, %d server lines): nginx chose %v", ui, u.mode, len(u.servers), seen)
	}
	if len(failures) > 0 {
		var conf strings.Builder
		for i, u := range ups {
			conf.WriteString(u.conf(i))
		}
		t.Errorf("seed %d: %d of %d connections differ from nginx, e.g.\n%s\nconfig:\n%s",
			seed, len(failures), total, strings.Join(failures[:min(10, len(failures))], "\n"), conf.String())
	}
	t.Logf("%d connections through %d nginx upstreams (ports %v): %d match",
		total, len(ups), ports, total-len(failures))
}

// startBackend listens on the same free port on every address of addrs and answers each
// connection with token(port) and a newline. It returns the port.
func startBackend(t *testing.T, addrs []netip.Addr, token func(port int) string) int {
	t.Helper()
	for attempt := 0; attempt < 20; attempt++ {
		first, err := net.Listen("tcp", netip.AddrPortFrom(addrs[0], 0).String())
		if err != nil {
			t.Fatalf("backend listen: %v", err)
		}
		port := first.Addr().(*net.TCPAddr).Port
		lns := []net.Listener{first}
		ok := true
		for _, a := range addrs[1:] {
			ln, err := net.Listen("tcp", netip.AddrPortFrom(a, uint16(port)).String())
			if err != nil {
				ok = false
				break
			}
			lns = append(lns, ln)
		}
		if !ok {
			for _, ln := range lns {
				ln.Close()
			}
			continue
		}
		msg := []byte(token(port) + "\n")
		var wg sync.WaitGroup
		for _, ln := range lns {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					c, err := ln.Accept()
					if err != nil {
						return
					}
					c.SetDeadline(time.Now().Add(5 * time.Second))
					c.Write(msg)
					c.Close()
				}
			}()
		}
		t.Cleanup(func() {
			for _, ln := range lns {
				ln.Close()
			}
			wg.Wait()
		})
		return port
	}
	t.Fatal("no port free on every address of localhost")
	return 0
}

// dialThrough connects from src to nginx's port and returns the backend's token, or "" when
// nginx closed the connection without one (no live upstreams).
func dialThrough(src netip.Addr, port int) (string, error) {
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: src.AsSlice()}, Timeout: 3 * time.Second}
	c, err := d.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		return "", fmt.Errorf("dial: %w", err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	b, err := io.ReadAll(c)
	if err != nil && !errors.Is(err, net.ErrClosed) && !isReset(err) {
		return "", fmt.Errorf("read: %w", err)
	}
	return strings.TrimSuffix(string(b), "\n"), nil
}

func isReset(err error) bool {
	return strings.Contains(err.Error(), "connection reset")
}
