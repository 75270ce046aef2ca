package splice

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"testing"
	"time"
)

// The benchmarks run the peers (the user's client and the backend) in a
// child process, so that the benchmark process's CPU time is the proxy's
// alone: cpu-s/GB is comparable with the design figures (1 MiB pipes
// ~0.27 CPU-s/GB, 32 KiB copy ~0.5).

const (
	benchBytes   = 64 << 20
	benchPeerEnv = "SPLICE_BENCH_PEER" // "clientAddr backendAddr bytes tlsCertBase64|-"
)

func TestMain(m *testing.M) {
	if spec := os.Getenv(benchPeerEnv); spec != "" {
		if err := benchPeer(spec); err != nil {
			fmt.Fprintln(os.Stderr, "bench peer:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// benchPeer is the child process: it sends n bytes as the client (then
// half-closes and waits for EOF) and reads everything as the backend.
func benchPeer(spec string) error {
	var clientAddr, backendAddr, cert string
	var n int64
	if _, err := fmt.Sscan(spec, &clientAddr, &backendAddr, &n, &cert); err != nil {
		return fmt.Errorf("parse %q: %w", spec, err)
	}
	be, err := net.Dial("tcp", backendAddr)
	if err != nil {
		return err
	}
	var cl net.Conn
	if cl, err = net.Dial("tcp", clientAddr); err != nil {
		return err
	}
	if cert != "-" {
		der, err := base64.StdEncoding.DecodeString(cert)
		if err != nil {
			return err
		}
		c, err := x509.ParseCertificate(der)
		if err != nil {
			return err
		}
		roots := x509.NewCertPool()
		roots.AddCert(c)
		cl = tls.Client(cl, &tls.Config{RootCAs: roots, ServerName: "tether.test"})
	}
	got := make(chan int64, 1)
	go func() {
		m, _ := io.CopyBuffer(io.Discard, be, make([]byte, 256<<10))
		_ = be.Close() // the backend ends its side too
		got <- m
	}()
	buf := make([]byte, 256<<10)
	for sent := int64(0); sent < n; sent += int64(len(buf)) {
		if _, err := cl.Write(buf); err != nil {
			return err
		}
	}
	if err := closeWrite(cl); err != nil {
		return err
	}
	if _, err := io.Copy(io.Discard, cl); err != nil {
		return err
	}
	if m := <-got; m != n {
		return fmt.Errorf("backend received %d bytes, want %d", m, n)
	}
	return nil
}

// benchForward moves benchBytes client->backend through a fresh tunnel per
// iteration; the timer and CPU clock run only during Forward.
func benchForward(b *testing.B, cfg EngineConfig, useTLS bool) {
	e := NewEngine(cfg)
	defer e.Close()
	b.SetBytes(benchBytes)
	b.ReportAllocs()
	var cpu time.Duration
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		client, backend, peer := startBenchPeer(b, useTLS)
		b.StartTimer()
		c0 := cpuTime()
		res := e.Forward(context.Background(), client, backend, Options{})
		cpu += cpuTime() - c0
		b.StopTimer()
		if err := peer.Wait(); err != nil || res.Up != benchBytes || res.Err != nil {
			b.Fatalf("peer: %v; Result = %+v", err, res)
		}
	}
	if cpu > 0 {
		b.ReportMetric(cpu.Seconds()/(float64(b.N)*benchBytes/1e9), "cpu-s/GB")
	}
}

// startBenchPeer starts the peer process and returns the proxy-side conns.
func startBenchPeer(b *testing.B, useTLS bool) (client net.Conn, backend *net.TCPConn, peer *exec.Cmd) {
	b.Helper()
	var lns [2]*net.TCPListener
	for i := range lns {
		ln, err := net.ListenTCP("tcp", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			b.Fatal(err)
		}
		defer ln.Close()
		lns[i] = ln
	}
	cert := "-"
	srvCfg, _ := testTLS()
	if useTLS {
		cert = base64.StdEncoding.EncodeToString(srvCfg.Certificates[0].Certificate[0])
	}
	peer = exec.Command(os.Args[0], "-test.run=^$")
	peer.Env = append(os.Environ(), fmt.Sprintf("%s=%s %s %d %s", benchPeerEnv, lns[0].Addr(), lns[1].Addr(), benchBytes, cert))
	peer.Stderr = os.Stderr
	if err := peer.Start(); err != nil {
		b.Fatalf("start peer: %v", err)
	}
	var conns [2]*net.TCPConn
	for i, ln := range lns {
		_ = ln.SetDeadline(time.Now().Add(hangLimit))
		c, err := ln.AcceptTCP()
		if err != nil {
			_ = peer.Process.Kill()
			b.Fatalf("accept from peer: %v", errors.Join(err, peer.Wait()))
		}
		conns[i] = c
	}
	client = conns[0]
	if useTLS {
		tc := tls.Server(conns[0], srvCfg)
		if err := tc.Handshake(); err != nil {
			b.Fatalf("handshake: %v", err)
		}
		client = tc
	}
	return client, conns[1], peer
}

// BenchmarkForwardSplice: plain <-> plain, splice(2) through 1 MiB pipes.
func BenchmarkForwardSplice(b *testing.B) { benchForward(b, EngineConfig{}, false) }

// BenchmarkForwardSplice64K: plain <-> plain through 64 KiB pipes.
func BenchmarkForwardSplice64K(b *testing.B) {
	benchForward(b, EngineConfig{PipeSize: 64 << 10}, false)
}

// BenchmarkForwardCopy: plain <-> plain with splicing disabled (32 KiB buffers).
func BenchmarkForwardCopy(b *testing.B) { benchForward(b, EngineConfig{MaxPipes: -1}, false) }

// BenchmarkForwardTLS: TLS client leg (copy path, includes decryption).
func BenchmarkForwardTLS(b *testing.B) { benchForward(b, EngineConfig{}, true) }
