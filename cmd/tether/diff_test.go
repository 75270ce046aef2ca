package main

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tether-proxy/tether/conf"
	"github.com/tether-proxy/tether/upstream"
)

// diffPool builds the pool of the only upstream in a configuration with the given balance and
// server lines.
func diffPool(t *testing.T, balance string, servers ...string) *upstream.Pool {
	t.Helper()
	q := make([]string, len(servers))
	for i, s := range servers {
		q[i] = fmt.Sprintf("%q", s)
	}
	text := fmt.Sprintf("[[listeners]]\nname = \"l\"\nlisten = \"127.0.0.1:1\"\nupstream = \"app\"\n[upstreams.app]\nbalance = %q\nservers = [%s]\n",
		balance, strings.Join(q, ", "))
	cfg, err := conf.Parse(filepath.Join(t.TempDir(), "t.toml"), []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	p, err := upstream.New(context.Background(), cfg.Upstreams["app"], net.DefaultResolver, nil)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// clientsOf counts the clients a diff found on backend name in the old configuration.
func (d *upstreamDiff) clientsOf(name string) int {
	n := 0
	for k, c := range d.moves {
		if k[0] == name {
			n += c
		}
	}
	return n
}

// TestDiffKnownFacts checks tether diff against what consistent hashing guarantees: removing
// one of N equal servers moves about 1/N of the clients, all of them its own, and adding weight
// to a server moves clients only onto it. Plain hash gives no such guarantee, which diff must
// show too.
func TestDiffKnownFacts(t *testing.T) {
	t.Parallel()
	four := []string{"10.0.0.1:80", "10.0.0.2:80", "10.0.0.3:80", "10.0.0.4:80"}
	addrs := sampleIPv4(20000, 1).addrs
	tests := []struct {
		name          string
		balance       string
		old, new      []string
		changed       string  // the server whose clients alone may move (from or to it)
		onlyOnto      bool    // moves must all go to changed (else all come from it)
		share         float64 // expected moved share (±50%), 0 = not checked
		othersMoveToo bool    // plain hash: clients of unchanged servers move as well
	}{
		{name: "remove one of four", balance: "hash-consistent", old: four, new: four[:3], changed: four[3], share: 0.25},
		{name: "mark one of four down", balance: "hash-consistent", old: four,
			new: []string{four[0], four[1] + " down", four[2], four[3]}, changed: four[1], share: 0.25},
		{name: "add weight", balance: "hash-consistent", old: four,
			new: []string{four[0], four[1], four[2] + " weight=3", four[3]}, changed: four[2], onlyOnto: true, share: 0.25},
		{name: "add a server", balance: "hash-consistent", old: four[:3], new: four, changed: four[3], onlyOnto: true, share: 0.25},
		{name: "plain hash: remove one of four", balance: "hash", old: four, new: four[:3], othersMoveToo: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := diffPools(diffPool(t, tc.balance, tc.old...), diffPool(t, tc.balance, tc.new...), false, false, addrs)
			if d.total != len(addrs) || d.moved == 0 {
				t.Fatalf("total %d moved %d", d.total, d.moved)
			}
			strayMoves := 0
			for k, c := range d.moves {
				if k[0] == k[1] {
					continue
				}
				if tc.onlyOnto && k[1] != tc.changed || !tc.onlyOnto && k[0] != tc.changed {
					strayMoves += c
				}
			}
			switch {
			case tc.othersMoveToo && strayMoves == 0:
				t.Fatalf("plain hash moved only the removed server's clients: %v", d.moves)
			case !tc.othersMoveToo && strayMoves > 0:
				t.Fatalf("%d clients moved that do not involve %s: %v", strayMoves, tc.changed, d.moves)
			}
			if !tc.onlyOnto && !tc.othersMoveToo && d.moved != d.clientsOf(tc.changed) {
				t.Fatalf("moved %d, but %s had %d clients", d.moved, tc.changed, d.clientsOf(tc.changed))
			}
			if got := d.movedShare(); tc.share > 0 && (got < tc.share/2 || got > tc.share*1.5) {
				t.Fatalf("moved share %.3f, want about %.2f", got, tc.share)
			}
			t.Logf("moved %.2f%%", 100*d.movedShare())
		})
	}
}

func TestSampleIPv4(t *testing.T) {
	t.Parallel()
	a, b := sampleIPv4(1000, 7), sampleIPv4(1000, 7)
	if len(a.addrs) != 1000 || fmt.Sprint(a.addrs) != fmt.Sprint(b.addrs) {
		t.Fatal("the sample is not deterministic")
	}
	if c := sampleIPv4(1000, 8); fmt.Sprint(a.addrs) == fmt.Sprint(c.addrs) {
		t.Fatal("the seed does not change the sample")
	}
	for i, x := range a.addrs {
		slice := uint64(i) << 32 / 1000
		v := x.As4()
		n := uint64(v[0])<<24 | uint64(v[1])<<16 | uint64(v[2])<<8 | uint64(v[3])
		if n < slice || n >= uint64(i+1)<<32/1000 {
			t.Fatalf("address %d = %s is outside its slice", i, x)
		}
	}
}

// TestDiffCommand runs tether diff as a user would: on a sample (deterministic, stated in the
// output), on an access log, with flags after the files, with upstreams added and removed.
func TestDiffCommand(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	old := writeFile(t, dir, "old.toml", `
[[listeners]]
name = "wss"
listen = "127.0.0.1:8443"
upstream = "app"
[upstreams.app]
servers = ["127.0.0.1:3001", "127.0.0.1:3002", "127.0.0.1:3003"]
[upstreams.legacy]
servers = ["127.0.0.1:4001"]
`)
	new := writeFile(t, dir, "new.toml", `
[[listeners]]
name = "wss"
listen = "127.0.0.1:8443"
upstream = "app"
[upstreams.app]
servers = ["127.0.0.1:3001", "127.0.0.1:3002", "127.0.0.1:3003", "localhost:3004"]
[upstreams.fresh]
servers = ["127.0.0.1:5001"]
`)
	code, out, errOut := runTether(t, "", "diff", "-n", "5000", old, new)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, want := range []string{
		"a sample of 5000 IPv4 addresses", "PCG seed 1",
		"upstream app: ", "% of clients move to another backend (", "of 5000)",
		"from \\ to", "localhost:3004", "ring share old", "ring share new",
		"upstream legacy: removed", "upstream fresh: added",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if _, again, _ := runTether(t, "", "diff", old, new, "-n", "5000"); again != out {
		t.Errorf("a second run (flags after the files) differs:\n%s\n---\n%s", out, again)
	}
	t.Logf("tether diff output:\n%s", out)

	log := writeFile(t, dir, "access.log", `203.0.113.7 - - [01/Jun/2026:10:00:00 +0000] "GET /socket.io/?EIO=4 HTTP/1.1" 101 0
203.0.113.7 - - [01/Jun/2026:10:00:01 +0000] "GET /socket.io/?EIO=4 HTTP/1.1" 200 12
198.51.100.23:51234 - - [01/Jun/2026:10:00:02 +0000] "GET / HTTP/1.1" 200 5
[2001:db8::1]:443 - - [01/Jun/2026:10:00:03 +0000] "GET / HTTP/1.1" 200 5
# a comment
- - - garbage line
`)
	code, out, errOut = runTether(t, "", "diff", "-addrs", log, old, new)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if want := "3 distinct addresses from " + log + " (5 lines, 1 not starting with an address skipped)"; !strings.Contains(out, want) {
		t.Errorf("output lacks %q:\n%s", want, out)
	}
	if !strings.Contains(out, "(3 of 3)") && !strings.Contains(out, "of 3)") {
		t.Errorf("output does not count the 3 clients:\n%s", out)
	}

	for _, args := range [][]string{{"diff", old}, {"diff", "-n", "0", old, new}} {
		if code, _, _ := runTether(t, "", args...); code != 2 {
			t.Errorf("%v: exit %d, want 2", args, code)
		}
	}
}
