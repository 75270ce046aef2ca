package main

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/tether-proxy/tether/internal/haproxytest"
)

// TestSourceParityLiveWithHAProxy: HAProxy 2.6 `balance source` (map-based, then `hash-type
// consistent`) and `tether run` with balance = "source" / "source-consistent" over the same
// backends and server lines (weights, explicit and automatic ids, a backup and a disabled
// server) send each of 2,000 clients, IPv4 and IPv6, announced in PROXY headers, to the same
// backend, and `tether lookup` names it too.
func TestSourceParityLiveWithHAProxy(t *testing.T) {
	haproxytest.Require(t)
	rng := rand.New(rand.NewPCG(6, 12))
	for _, consistent := range []bool{false, true} {
		t.Run(fmt.Sprintf("consistent=%v", consistent), func(t *testing.T) {
			type server struct {
				name, addr string
				weight, id int
				backup     bool
				down       bool
			}
			servers := []server{{name: "a", weight: 3}, {name: "b", weight: 1, id: 4}, {name: "c", weight: 2},
				{name: "d", weight: 5, down: true}, {name: "e", weight: 1}, {name: "f", weight: 2, backup: true}}
			var haLines, tetherLines []string
			for i := range servers {
				s := &servers[i]
				s.addr = haproxytest.NameServer(t, s.name)
				ha := fmt.Sprintf("server %s %s weight %d", s.name, s.addr, s.weight)
				tl := fmt.Sprintf("%s weight=%d", s.addr, s.weight)
				if s.id != 0 {
					ha += fmt.Sprintf(" id %d", s.id)
					tl += fmt.Sprintf(" id=%d", s.id)
				}
				if s.backup {
					ha, tl = ha+" backup", tl+" backup"
				}
				if s.down {
					ha, tl = ha+" disabled", tl+" down"
				}
				haLines = append(haLines, "    "+ha)
				tetherLines = append(tetherLines, strconv.Quote(tl))
			}
			hashType, balance := "", "source"
			if consistent {
				hashType, balance = "    hash-type consistent\n", "source-consistent"
			}
			ha := haproxytest.Start(t, 1, func(p []int) string {
				return fmt.Sprintf("frontend fe\n    bind 127.0.0.1:%d accept-proxy\n    default_backend be\n\nbackend be\n    balance source\n%s%s\n",
					p[0], hashType, strings.Join(haLines, "\n"))
			})[0]
			port := haproxytest.FreePorts(t, 1)[0]
			cfg := writeFile(t, t.TempDir(), "tether.toml", fmt.Sprintf(`
[[listeners]]
name = "l"
listen = "127.0.0.1:%d"
upstream = "app"
preamble = "none"
proxy_protocol_in = { trusted = ["127.0.0.0/8"] }
[upstreams.app]
balance = %q
servers = [%s]
`, port, balance, strings.Join(tetherLines, ", ")))
			p := start(t, "run", "-c", cfg)
			p.waitOutput(t, `"msg":"listening"`)

			clients := sourceClients(rng, 2000)
			var stdin strings.Builder
			for _, c := range clients {
				stdin.WriteString(c.String() + "\n")
			}
			code, out, errOut := runTether(t, stdin.String(), "lookup", "-c", cfg, "-")
			if code != 0 {
				t.Fatalf("lookup: %d %s", code, errOut)
			}
			byAddr := map[string]string{}
			for _, addr := range servers {
				byAddr[addr.addr] = addr.name
			}
			lookup := map[string]string{}
			for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
				f := strings.Fields(l)
				lookup[f[0]] = byAddr[f[2]]
			}
			viaHA := askEach(t, fmt.Sprintf("127.0.0.1:%d", ha), clients)
			viaTether := askEach(t, fmt.Sprintf("127.0.0.1:%d", port), clients)
			spread := map[string]int{}
			for i, c := range clients {
				if viaHA[i] != viaTether[i] || lookup[c.String()] != viaHA[i] {
					t.Fatalf("client %s: HAProxy chose %q, tether run %q, tether lookup %q", c, viaHA[i], viaTether[i], lookup[c.String()])
				}
				spread[viaHA[i]]++
			}
			if len(spread) < 4 {
				t.Fatalf("clients reached only %v", spread)
			}
			t.Logf("%d clients, HAProxy == tether run == tether lookup; spread %v", len(clients), spread)
		})
	}
}

// sourceClients returns n distinct client addresses, two thirds IPv4, a third IPv6.
func sourceClients(rng *rand.Rand, n int) []netip.Addr {
	seen := map[netip.Addr]bool{}
	var out []netip.Addr
	for len(out) < n {
		var a netip.Addr
		if rng.IntN(3) < 2 {
			a = netip.AddrFrom4([4]byte{byte(1 + rng.IntN(223)), byte(rng.IntN(256)), byte(rng.IntN(256)), byte(1 + rng.IntN(254))})
		} else {
			b := [16]byte{0x20, 0x01, 0x0d, 0xb8}
			for i := 4; i < 16; i++ {
				b[i] = byte(rng.IntN(256))
			}
			a = netip.AddrFrom16(b)
		}
		if !seen[a] {
			seen[a] = true
			out = append(out, a)
		}
	}
	return out
}

// askEach asks the proxy at addr which backend each client reaches, eight at a time.
func askEach(t *testing.T, addr string, clients []netip.Addr) []string {
	t.Helper()
	got := make([]string, len(clients))
	errs := make([]error, len(clients))
	var wg sync.WaitGroup
	next := make(chan int)
	for range 8 {
		wg.Go(func() {
			for i := range next {
				got[i], errs[i] = haproxytest.Ask(addr, clients[i])
			}
		})
	}
	for i := range clients {
		next <- i
	}
	close(next)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("client %s via %s: %v", clients[i], addr, err)
		}
	}
	return got
}

// TestLoadMethodsHaveNoClientAnswer: for balance = "least-conn", whose choice depends on load,
// `tether lookup` refuses with the reason and `tether diff` says so per upstream instead of
// inventing a backend per client; the HAProxy methods answer both.
func TestLoadMethodsHaveNoClientAnswer(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfg := func(name, balance string) string {
		return writeFile(t, dir, name, fmt.Sprintf("[[listeners]]\nname = \"l\"\nlisten = \"127.0.0.1:1\"\nupstream = \"app\"\n[upstreams.app]\nbalance = %q\nservers = [\"10.0.0.1:80\", \"10.0.0.2:80 weight=2\"]\n", balance))
	}
	lc, src := cfg("lc.toml", "least-conn"), cfg("src.toml", "source")
	code, out, errOut := runTether(t, "", "lookup", "-c", lc, "192.0.2.1")
	if code != 2 || out != "" || !strings.Contains(errOut, "balance least-conn (nginx `least_conn;`) chooses by load") {
		t.Errorf("lookup on least-conn: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	code, out, _ = runTether(t, "", "diff", lc, src)
	if code != 0 || !strings.Contains(out, "upstream app: balance least-conn (nginx `least_conn;`) chooses by load, not by client") {
		t.Errorf("diff with least-conn: exit %d\n%s", code, out)
	}
	code, out, errOut = runTether(t, "", "lookup", "-c", src, "192.0.2.1", "2001:db8::1")
	if code != 0 || len(strings.Split(strings.TrimSpace(out), "\n")) != 2 {
		t.Errorf("lookup on source: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
}
