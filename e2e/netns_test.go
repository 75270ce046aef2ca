//go:build linux

package e2e

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// netns is a network namespace a test made with `ip netns add`. It is deleted when the test
// ends (its interfaces with it), after the processes started in it were stopped.
type netns struct {
	t    testing.TB
	name string
}

// requireNetns skips t unless it can make network namespaces (root, iproute2), or fails it
// under TETHER_REQUIRE_PEERS=1. It returns a prefix unique to this run for namespace names, so
// that tests of several engineers or runs on one machine never share a namespace.
func requireNetns(t testing.TB) string {
	t.Helper()
	if os.Geteuid() != 0 {
		missing(t, "network namespaces need root (the fleet test runs as root in CI)")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		missing(t, "ip is not installed; apt-get install iproute2")
	}
	var b [3]byte
	rand.Read(b[:])
	prefix := "tf" + hex.EncodeToString(b[:])
	probe := prefix + "-probe"
	if out, err := exec.Command("ip", "netns", "add", probe).CombinedOutput(); err != nil {
		missing(t, fmt.Sprintf("cannot make a network namespace (ip netns add: %v: %s)", err, strings.TrimSpace(string(out))))
	}
	exec.Command("ip", "netns", "del", probe).Run()
	return prefix
}

// newNetns makes namespace name with its loopback up.
func newNetns(t testing.TB, name string) *netns {
	t.Helper()
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add %s: %v: %s", name, err, out)
	}
	n := &netns{t: t, name: name}
	t.Cleanup(func() {
		if out, err := exec.Command("ip", "netns", "del", name).CombinedOutput(); err != nil {
			t.Errorf("ip netns del %s: %v: %s", name, err, out)
		}
	})
	n.ip("link", "set", "lo", "up")
	return n
}

// ip runs `ip -n NAME args...` and fails the test when it fails.
func (n *netns) ip(args ...string) {
	n.t.Helper()
	if out, err := exec.Command("ip", append([]string{"-n", n.name}, args...)...).CombinedOutput(); err != nil {
		n.t.Fatalf("ip -n %s %s: %v: %s", n.name, strings.Join(args, " "), err, out)
	}
}

// batch runs ip commands (one per line, without "ip") in the namespace at once.
func (n *netns) batch(lines []string) {
	n.t.Helper()
	cmd := exec.Command("ip", "-n", n.name, "-batch", "-")
	cmd.Stdin = strings.NewReader(strings.Join(lines, "\n") + "\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		n.t.Fatalf("ip -n %s -batch: %v: %s", n.name, err, out)
	}
}

// sysctl sets a sysctl of the namespace (net.* sysctls belong to the namespace of the thread
// that opens them).
func (n *netns) sysctl(key, value string) {
	n.t.Helper()
	path := "/proc/sys/" + strings.ReplaceAll(key, ".", "/")
	if err := n.run(func() error { return os.WriteFile(path, []byte(value), 0o644) }); err != nil {
		n.t.Fatalf("sysctl %s in %s: %v", key, n.name, err)
	}
}

// readSysctl reads a sysctl of the namespace.
func (n *netns) readSysctl(key string) string {
	n.t.Helper()
	var b []byte
	path := "/proc/sys/" + strings.ReplaceAll(key, ".", "/")
	if err := n.run(func() (err error) { b, err = os.ReadFile(path); return err }); err != nil {
		n.t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// command returns cmd run inside the namespace (ip netns exec, which execs cmd itself, so the
// process is cmd).
func (n *netns) command(name string, args ...string) *exec.Cmd {
	return exec.Command("ip", append([]string{"netns", "exec", n.name, name}, args...)...)
}

// run calls f on a goroutine whose OS thread is in the namespace, and returns f's error.
// Sockets f opens belong to the namespace for their whole life, whichever goroutine uses them
// later. The thread is never unlocked, so it ends with the goroutine instead of going back to
// the runtime's pool in the wrong namespace.
func (n *netns) run(f func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		if err := n.enter(); err != nil {
			errc <- err
			return
		}
		errc <- f()
	}()
	return <-errc
}

// enter moves the calling (locked) thread into the namespace.
func (n *netns) enter() error {
	fd, err := unix.Open("/run/netns/"+n.name, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open netns %s: %w", n.name, err)
	}
	defer unix.Close(fd)
	if err := unix.Setns(fd, unix.CLONE_NEWNET); err != nil {
		return fmt.Errorf("setns %s: %w", n.name, err)
	}
	return nil
}

// listen listens on addr inside the namespace.
func (n *netns) listen(addr string) net.Listener {
	n.t.Helper()
	var ln net.Listener
	if err := n.run(func() (err error) { ln, err = net.Listen("tcp", addr); return err }); err != nil {
		n.t.Fatal(err)
	}
	n.t.Cleanup(func() { ln.Close() })
	return ln
}

// dial connects from inside the namespace, from local (nil: any address) to addr.
func (n *netns) dial(ctx context.Context, local net.Addr, network, addr string) (net.Conn, error) {
	var c net.Conn
	err := n.run(func() (err error) {
		d := net.Dialer{LocalAddr: local, Timeout: 5 * time.Second}
		c, err = d.DialContext(ctx, network, addr)
		return err
	})
	return c, err
}

// veth links namespace a (interface aName, address aAddr with its prefix length) to b.
func veth(a *netns, aName, aAddr string, b *netns, bName, bAddr string) {
	a.t.Helper()
	a.ip("link", "add", aName, "type", "veth", "peer", "name", bName, "netns", b.name)
	a.ip("addr", "add", aAddr, "dev", aName)
	b.ip("addr", "add", bAddr, "dev", bName)
	a.ip("link", "set", aName, "up")
	b.ip("link", "set", bName, "up")
}
