package bench

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tether-proxy/tether/conf"
	"github.com/tether-proxy/tether/listener"
	"github.com/tether-proxy/tether/splice"
	"github.com/tether-proxy/tether/tlsterm"
)

// tunnelBytes is what one benchmark iteration moves through a fresh tunnel.
const tunnelBytes = 64 << 20

// tunnelKinds are the data paths of a tether tunnel: both legs plain with splice(2) (the
// default engine), both legs plain with splicing disabled (the pooled 32 KiB buffered copy),
// and a TLS client leg (decrypted and copied).
var tunnelKinds = []struct {
	name   string
	engine splice.EngineConfig
	tls    bool
}{
	{"splice", splice.EngineConfig{}, false},
	{"copy", splice.EngineConfig{MaxPipes: -1}, false},
	{"tls", splice.EngineConfig{}, true},
}

// proxyRig is a listener.Server in this process with a peer process on both sides of it.
type proxyRig struct {
	srv   *listener.Server
	eng   *splice.Engine
	addr  string // the proxy's listener
	peer  *exec.Cmd
	cmds  io.WriteCloser
	resps *bufio.Reader
	done  chan struct{} // closed when Serve returned
}

// startRig starts the peer process (it listens as the backend), then a tether server with one
// listener (preamble "none", so nothing is read before the tunnel starts) in front of it.
func startRig(tb testing.TB, engine splice.EngineConfig, useTLS bool) *proxyRig {
	tb.Helper()
	r := &proxyRig{done: make(chan struct{})}
	r.peer = exec.Command(os.Args[0], "-test.run=^$")
	r.peer.Env = append(os.Environ(), peerEnv+"=1")
	r.peer.Stderr = os.Stderr
	var err error
	if r.cmds, err = r.peer.StdinPipe(); err != nil {
		tb.Fatal(err)
	}
	out, err := r.peer.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	if err := r.peer.Start(); err != nil {
		tb.Fatalf("start peer: %v", err)
	}
	tb.Cleanup(func() {
		r.cmds.Close() // the peer exits at EOF
		if err := r.peer.Wait(); err != nil {
			tb.Errorf("peer: %v", err)
		}
	})
	r.resps = bufio.NewReader(out)
	backend, err := r.resps.ReadString('\n')
	if err != nil {
		tb.Fatalf("peer did not start: %v", err)
	}

	dir := tb.TempDir()
	tlsTable := ""
	if useTLS {
		cert, err := tlsterm.SelfSigned("localhost", "127.0.0.1")
		if err != nil {
			tb.Fatal(err)
		}
		certPath, keyPath, err := tlsterm.WritePEM(dir, cert)
		if err != nil {
			tb.Fatal(err)
		}
		tlsTable = fmt.Sprintf("  [listeners.tls]\n  cert = %q\n  key = %q\n", certPath, keyPath)
	}
	r.eng = splice.NewEngine(engine)
	toml := fmt.Sprintf("[[listeners]]\nname = \"bench\"\nlisten = \"127.0.0.1:0\"\nupstream = \"peer\"\npreamble = \"none\"\n%s"+
		"[upstreams.peer]\nservers = [%q]\n", tlsTable, strings.TrimSpace(backend))
	cfg, err := conf.Parse(filepath.Join(dir, "tether.toml"), []byte(toml))
	if err != nil {
		tb.Fatalf("config: %v\n%s", err, toml)
	}
	r.srv, err = listener.New(context.Background(), cfg, listener.Options{Logger: slog.New(slog.DiscardHandler), Engine: r.eng})
	if err != nil {
		tb.Fatal(err)
	}
	if err := r.srv.Listen(context.Background()); err != nil {
		tb.Fatalf("listen: %v", err)
	}
	r.addr = r.srv.Addr("bench").String()
	go func() { r.srv.Serve(); close(r.done) }()
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := r.srv.Shutdown(ctx); err != nil {
			tb.Errorf("shutdown: %v", err)
		}
		<-r.done
		r.eng.Close()
	})
	return r
}

// transfer has the peer move n bytes through the proxy in one fresh tunnel, "up" (client to
// backend) or "down", and waits until the peer saw them all arrive and both ends closed.
func (r *proxyRig) transfer(dir string, n int64, useTLS bool) error {
	if _, err := fmt.Fprintf(r.cmds, "%s %d %s %t\n", dir, n, r.addr, useTLS); err != nil {
		return fmt.Errorf("command peer: %w", err)
	}
	line, err := r.resps.ReadString('\n')
	if err != nil {
		return fmt.Errorf("peer answer: %w", err)
	}
	if line = strings.TrimSpace(line); line != "ok" {
		return fmt.Errorf("peer: %s", line)
	}
	return nil
}

// cpuTime is this process's user+system CPU time: the proxy's, the peers being elsewhere.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkTunnel moves 64 MiB per iteration through a new tunnel of a whole tether
// listener.Server (accept, backend choice and dial, then the copy engine), one direction at a
// time. MB/s is the tunnel's throughput; cpu-s/GB the proxy's CPU per GB moved (design
// figures from issue 3: 1 MiB pipes ~0.27, 32 KiB copy ~0.5, TLS ~1 per direction).
func BenchmarkTunnel(b *testing.B) {
	for _, k := range tunnelKinds {
		for _, dir := range []string{"up", "down"} {
			b.Run(k.name+"/"+dir, func(b *testing.B) {
				r := startRig(b, k.engine, k.tls)
				b.SetBytes(tunnelBytes)
				b.ReportAllocs()
				var cpu time.Duration
				for b.Loop() {
					c0 := cpuTime()
					if err := r.transfer(dir, tunnelBytes, k.tls); err != nil {
						b.Fatal(err)
					}
					cpu += cpuTime() - c0
				}
				b.ReportMetric(cpu.Seconds()/(float64(b.N)*tunnelBytes/1e9), "cpu-s/GB")
				if st := r.eng.Stats(); k.name == "splice" && st.Created == 0 {
					b.Errorf("splice engine created no pipe: %+v", st)
				}
			})
		}
	}
}

// TestTunnelRig: the benchmark's machinery works for every kind and direction (the peer
// checks the byte count and both closes), and only the splice kind splices.
func TestTunnelRig(t *testing.T) {
	for _, k := range tunnelKinds {
		t.Run(k.name, func(t *testing.T) {
			r := startRig(t, k.engine, k.tls)
			for _, dir := range []string{"up", "down"} {
				if err := r.transfer(dir, 1<<20, k.tls); err != nil {
					t.Fatalf("%s: %v", dir, err)
				}
			}
			st := r.eng.Stats()
			if spliced := st.Created > 0; spliced != (k.name == "splice") {
				t.Errorf("engine stats %+v: pipes created = %t, want %t", st, spliced, k.name == "splice")
			}
		})
	}
}
