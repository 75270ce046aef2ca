package listener

import (
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// TestMaxMemorySheds pins issue 12 item 5 for memory: while the resident size is over
// max_memory every new connection is refused at accept (reset, counted and logged with reason
// "max_memory", the size and the limit), an established tunnel goes on, and accepting resumes
// as soon as the size is back under the limit. Not parallel: it replaces readRSS.
func TestMaxMemorySheds(t *testing.T) {
	var rss atomic.Int64
	rss.Store(1 << 20)
	old := readRSS
	readRSS = func() int64 { return rss.Load() }
	t.Cleanup(func() { readRSS = old })
	b := startBackend(t, "echo", "127.0.0.1:0", echo)
	p := startProxy(t, fmt.Sprintf(`
max_memory = "64MiB"
[[listeners]]
name = "l"
listen = "127.0.0.1:0"
upstream = "app"
preamble = "none"
[upstreams.app]
servers = ["%s"]
`, b.addr()))
	setRSS := func(n int64) {
		rss.Store(n)
		p.srv.shed.sampled.Store(0) // read at the next accept
	}

	tunnel, ok := echoOnce(p.addr("l"))
	if !ok {
		t.Fatal("first tunnel refused under the limit")
	}
	defer tunnel.Close()
	setRSS(100 << 20)
	for i := range 5 {
		if c, ok := echoOnce(p.addr("l")); ok {
			c.Close()
			t.Fatalf("connection %d served over max_memory", i)
		}
	}
	if !roundTrip(tunnel) {
		t.Fatal("the established tunnel broke while new connections were refused")
	}
	m := metricsText(p)
	if !strings.Contains(m, `tether_connections_refused_total{listener="l",reason="max_memory"} 5`) {
		t.Errorf("5 refusals for max_memory not counted:\n%s", m)
	}
	p.log.waitLog(t, `"msg":"connection rejected","listener":"l","reason":"max_memory","value":104857600,"limit":67108864`)
	setRSS(1 << 20)
	c, ok := echoOnce(p.addr("l"))
	if !ok {
		t.Fatal("not served after memory fell under max_memory")
	}
	c.Close()
}

// echoOnce connects to addr and checks one echo; a refusal resets the connection.
func echoOnce(addr string) (net.Conn, bool) {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return nil, false
	}
	if !roundTrip(c) {
		c.Close()
		return nil, false
	}
	return c, true
}

func roundTrip(c net.Conn) bool {
	c.SetDeadline(time.Now().Add(5 * time.Second))
	defer c.SetDeadline(time.Time{})
	if _, err := io.WriteString(c, "hi"); err != nil {
		return false
	}
	buf := make([]byte, 2)
	_, err := io.ReadFull(c, buf)
	return err == nil && string(buf) == "hi"
}

// TestCgroupMemoryLimit pins how the default of max_memory finds the cgroup v2 limit: the
// smallest memory.max from tether's cgroup up to the root, "max" meaning none, and the root's
// own file inside a container's cgroup namespace.
func TestCgroupMemoryLimit(t *testing.T) {
	root := t.TempDir()
	write := func(dir, v string) {
		if err := os.MkdirAll(filepath.Join(root, dir), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(root, dir, "memory.max"), []byte(v+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("system.slice", "4294967296")
	write("system.slice/tether.service", "max")
	write("system.slice/small.service", "1073741824")
	write("user.slice", "max")
	for _, tc := range []struct {
		self string
		want int64
	}{
		{"0::/system.slice/tether.service\n", 4 << 30},            // the parent's limit applies
		{"0::/system.slice/small.service\n", 1 << 30},             // the smaller of the two
		{"0::/user.slice\n", 0},                                   // max: no limit
		{"12:memory:/x\n0::/system.slice/small.service", 1 << 30}, // v1 lines are ignored
		{"", 0},       // no cgroup v2
		{"0::/\n", 0}, // the root has no memory.max here
	} {
		if got := cgroupMemoryLimit(root, []byte(tc.self)); got != tc.want {
			t.Errorf("%q: %d, want %d", tc.self, got, tc.want)
		}
	}
	write("", "536870912") // a container: its cgroup is the namespace's root
	if got := cgroupMemoryLimit(root, []byte("0::/\n")); got != 512<<20 {
		t.Errorf("container root: %d, want %d", got, 512<<20)
	}
}

// TestCountDir pins the descriptor count fd_reserve relies on: getdents64 over /proc/self/fd
// counts what os.ReadDir lists (each sees its own directory descriptor open).
func TestCountDir(t *testing.T) {
	var f fdCounter
	f.open()
	defer f.close()
	if f.dir < 0 {
		t.Skip("no /proc/self/fd")
	}
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	var buf []byte
	if n := countDir(f.dir, &buf); n < int64(len(ents))-2 || n > int64(len(ents))+2 {
		t.Fatalf("counted %d descriptors, os.ReadDir lists %d", n, len(ents))
	}
	if allocs := testing.AllocsPerRun(10, func() { countDir(f.dir, &buf) }); allocs != 0 {
		t.Errorf("a count allocates %v times, want 0", allocs)
	}
}

// BenchmarkCountDir measures one count of /proc/self/fd with 10,000 more descriptors open
// (what fd_reserve pays at most every hundred times its duration, near the limit only).
func BenchmarkCountDir(b *testing.B) {
	var f fdCounter
	f.open()
	defer f.close()
	if f.dir < 0 {
		b.Skip("no /proc/self/fd")
	}
	for range 10000 {
		fd, err := syscall.Dup(0)
		if err != nil {
			b.Skipf("cannot open 10,000 descriptors: %v", err)
		}
		defer syscall.Close(fd)
	}
	var buf []byte
	for b.Loop() {
		countDir(f.dir, &buf)
	}
}

// BenchmarkShedCheck measures the check every accepted connection pays with the default
// fd_reserve, far from the limit.
func BenchmarkShedCheck(b *testing.B) {
	var sh shedder
	sh.spare, sh.fds.dir = -1, -1
	sh.fds.open()
	defer sh.fds.close()
	sh.reserve.Store(64)
	for b.Loop() {
		if r, _, _ := sh.check(); r != "" {
			b.Fatal(r)
		}
		sh.fds.since.Store(0)
	}
}
