package bench

import (
	"bufio"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"testing"
	"time"
)

// peerEnv, when set, makes the test binary the tunnel peer (see runPeer) instead of running
// tests.
const peerEnv = "TETHER_BENCH_PEER"

func TestMain(m *testing.M) {
	if os.Getenv(peerEnv) != "" {
		if err := runPeer(os.Stdin, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, "bench peer:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// peerTimeout bounds every transfer of the peer.
const peerTimeout = 30 * time.Second

// runPeer is the child process of the tunnel benchmarks: both the client and the backend of
// the proxy under test. It listens as the backend and prints its address; then, for every
// command line "up|down BYTES PROXYADDR TLS" it connects to the proxy as the client, waits
// for the proxy to connect to the backend, and sends BYTES one way: the sender half-closes
// after the last byte, the receiver counts to EOF and closes, the sender reads to EOF. It
// answers "ok" or the error, and exits at EOF on its input.
func runPeer(in io.Reader, out io.Writer) error {
	ln, err := net.ListenTCP("tcp", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return err
	}
	defer ln.Close()
	fmt.Fprintln(out, ln.Addr())
	sc := bufio.NewScanner(in)
	for sc.Scan() {
		var dir, addr string
		var n int64
		var useTLS bool
		if _, err := fmt.Sscan(sc.Text(), &dir, &n, &addr, &useTLS); err != nil {
			return fmt.Errorf("command %q: %w", sc.Text(), err)
		}
		if err := peerTransfer(ln, dir, n, addr, useTLS); err != nil {
			fmt.Fprintln(out, "error:", err)
			continue
		}
		fmt.Fprintln(out, "ok")
	}
	return sc.Err()
}

func peerTransfer(ln *net.TCPListener, dir string, n int64, addr string, useTLS bool) error {
	deadline := time.Now().Add(peerTimeout)
	var client net.Conn
	client, err := net.DialTimeout("tcp", addr, peerTimeout)
	if err != nil {
		return err
	}
	defer client.Close()
	if useTLS {
		// The proxy dials the backend only after the handshake.
		tc := tls.Client(client, &tls.Config{InsecureSkipVerify: true})
		if err := tc.SetDeadline(deadline); err != nil {
			return err
		}
		if err := tc.Handshake(); err != nil {
			return fmt.Errorf("tls handshake: %w", err)
		}
		client = tc
	}
	if err := ln.SetDeadline(deadline); err != nil {
		return err
	}
	backend, err := ln.AcceptTCP()
	if err != nil {
		return fmt.Errorf("the proxy did not connect to the backend: %w", err)
	}
	defer backend.Close()
	for _, c := range []net.Conn{client, backend} {
		if err := c.SetDeadline(deadline); err != nil {
			return err
		}
	}
	from, to := client, net.Conn(backend)
	if dir == "down" {
		from, to = to, from
	}
	got := make(chan error, 1)
	go func() {
		m, err := io.CopyBuffer(io.Discard, onlyReader{to}, make([]byte, 256<<10))
		if err == nil && m != n {
			err = fmt.Errorf("received %d bytes, want %d", m, n)
		}
		to.Close()
		got <- err
	}()
	buf := make([]byte, 256<<10)
	for sent := int64(0); sent < n; {
		k, err := from.Write(buf[:min(int64(len(buf)), n-sent)])
		sent += int64(k)
		if err != nil {
			return fmt.Errorf("send: %w", err)
		}
	}
	if err := from.(interface{ CloseWrite() error }).CloseWrite(); err != nil {
		return fmt.Errorf("half-close: %w", err)
	}
	if _, err := io.Copy(io.Discard, from); err != nil && !errors.Is(err, net.ErrClosed) {
		return fmt.Errorf("sender waiting for EOF: %w", err)
	}
	return <-got
}

// onlyReader hides a conn's WriterTo so that io.CopyBuffer uses the buffer given.
type onlyReader struct{ io.Reader }
