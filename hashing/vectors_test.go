package hashing

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// Vectors recorded from a real nginx 1.22.1; see testdata/nginx-hash/README.md.

type vectorHeader struct {
	Name         string              `json:"name"`
	Format       string              `json:"format"`
	Mode         string              `json:"mode"`
	Listen       string              `json:"listen"`
	ServerLines  []string            `json:"server_lines"`
	Resolved     map[string][]string `json:"resolved"`
	ExtraVectors []vectorLine        `json:"extra_vectors"`
}

type vectorLine struct {
	Client     string `json:"client"`
	RemoteAddr string `json:"remote_addr"`
	Backend    string `json:"backend"`
	Server     string `json:"server"`
	Listener   string `json:"listener"`
}

// serverLine is a minimal parse of `server NAME [weight=N] [down] [backup];` (the real
// parser lives in package conf).
type serverLine struct {
	name           string
	weight         int
	down, isBackup bool
}

func parseServerLine(s string) (serverLine, error) {
	f := strings.Fields(strings.TrimSuffix(strings.TrimSpace(s), ";"))
	if len(f) < 2 || f[0] != "server" {
		return serverLine{}, fmt.Errorf("not a server line: %q", s)
	}
	l := serverLine{name: f[1], weight: 1}
	for _, p := range f[2:] {
		switch {
		case p == "down":
			l.down = true
		case p == "backup":
			l.isBackup = true
		case strings.HasPrefix(p, "weight="):
			w, err := strconv.Atoi(p[len("weight="):])
			if err != nil {
				return serverLine{}, fmt.Errorf("server line %q: %w", s, err)
			}
			l.weight = w
		default:
			return serverLine{}, fmt.Errorf("server line %q: unknown parameter %q", s, p)
		}
	}
	return l, nil
}

// states is a Health backed by a slice.
type states []State

var _ Health = states(nil)

func (s states) State(i int) State { return s[i] }

type vectorUpstream struct {
	table *Table
	addrs []string // resolved address of each peer
	names map[string]int
	h     states
}

func buildVectorUpstream(t *testing.T, hd vectorHeader) vectorUpstream {
	t.Helper()
	var mode Mode
	switch hd.Mode {
	case "consistent":
		mode = Consistent
	case "hash":
		mode = Plain
	default:
		t.Fatalf("unknown mode %q", hd.Mode)
	}
	u := vectorUpstream{names: map[string]int{}}
	var peers []Peer
	for _, s := range hd.ServerLines {
		l, err := parseServerLine(s)
		if err != nil {
			t.Fatal(err)
		}
		addrs := hd.Resolved[l.name]
		if len(addrs) == 0 {
			t.Fatalf("server %q: no resolved addresses", l.name)
		}
		u.names[l.name] = len(addrs)
		for _, a := range addrs {
			peers = append(peers, Peer{Name: l.name, Weight: l.weight, Backup: l.isBackup})
			u.addrs = append(u.addrs, a)
			st := Usable
			if l.down {
				st = Down
			}
			u.h = append(u.h, st)
		}
	}
	tab, err := New(mode, peers)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	u.table = tab
	return u
}

// check runs one vector line and returns an error describing a mismatch.
func (u vectorUpstream) check(v vectorLine, onIPv6Socket bool) error {
	ip, err := netip.ParseAddr(v.Client)
	if err != nil {
		return fmt.Errorf("client %q: %w", v.Client, err)
	}
	key := AppendRemoteAddr(nil, ip, onIPv6Socket)
	want := v.RemoteAddr
	if want == "" {
		want = v.Client
	}
	if string(key) != want {
		return fmt.Errorf("client %s: remote_addr %q, nginx %q", v.Client, key, want)
	}
	var a Attempt
	u.table.Start(&a, []byte(want))
	p := u.table.Next(&a, u.h)
	if p < 0 {
		return fmt.Errorf("client %s: no peer, nginx %s", v.Client, v.Server)
	}
	got := u.table.peers[p]
	if got.Name != v.Server {
		return fmt.Errorf("client %s (key %q): server %s, nginx %s", v.Client, want, got.Name, v.Server)
	}
	if u.names[v.Server] > 1 && u.addrs[p] != v.Backend {
		return fmt.Errorf("client %s: backend %s, nginx %s", v.Client, u.addrs[p], v.Backend)
	}
	return nil
}

func TestNginxVectors(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "nginx-hash", "*.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no vector files in testdata/nginx-hash")
	}
	total := 0
	for _, file := range files {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".jsonl"), func(t *testing.T) {
			f, err := os.Open(file)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			sc := bufio.NewScanner(f)
			sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
			if !sc.Scan() {
				t.Fatalf("empty file: %v", sc.Err())
			}
			var hd vectorHeader
			if err := json.Unmarshal(sc.Bytes(), &hd); err != nil {
				t.Fatalf("header: %v", err)
			}
			if hd.Format != "nginx-hash-vectors/1" {
				t.Fatalf("format %q", hd.Format)
			}
			u := buildVectorUpstream(t, hd)
			onV6 := strings.Contains(hd.Listen, "ipv6only=off")
			lines, bad := 0, 0
			for sc.Scan() {
				var v vectorLine
				if err := json.Unmarshal(sc.Bytes(), &v); err != nil {
					t.Fatalf("line %d: %v", lines+2, err)
				}
				lines++
				if err := u.check(v, onV6); err != nil {
					bad++
					if bad <= 10 {
						t.Errorf("line %d: %v", lines+1, err)
					}
				}
			}
			if err := sc.Err(); err != nil {
				t.Fatal(err)
			}
			extra := 0
			for _, v := range hd.ExtraVectors {
				// Extra clients came in on their own listener, e.g. [::1]:<port>.
				if err := u.check(v, strings.HasPrefix(v.Listener, "[")); err != nil {
					bad++
					t.Errorf("extra vector: %v", err)
				}
				extra++
			}
			if lines == 0 {
				t.Fatal("no vectors")
			}
			total += lines + extra
			t.Logf("%s (%s, %d servers): %d/%d lines, %d/%d extra match",
				hd.Name, hd.Mode, len(hd.ServerLines), lines-min(bad, lines), lines, extra, len(hd.ExtraVectors))
		})
	}
	t.Logf("%d vector files, %d vectors checked", len(files), total)
}
