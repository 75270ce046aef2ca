// Package netnstest runs a test in a network namespace of its own, where it may change
// per-namespace sysctls (net.ipv4.ip_local_port_range, ...) and add addresses without touching
// the machine's: the test binary runs itself again under `unshare --net`, with loopback up.
package netnstest

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// env names the test that a child process runs inside its namespace.
const env = "TETHER_NETNS_TEST"

// Run returns true in the child, which runs the calling test's body inside a fresh network
// namespace (loopback up), and false in the parent once the child passed; the parent fails
// with the child's output otherwise. Without root or unshare the test is skipped, or fails
// when the environment demands every peer (TETHER_REQUIRE_PEERS=1, set by scripts/test).
// Only a top-level test may call it.
func Run(t *testing.T) bool {
	t.Helper()
	if os.Getenv(env) == t.Name() {
		if out, err := exec.Command("ip", "link", "set", "lo", "up").CombinedOutput(); err != nil {
			t.Fatalf("ip link set lo up: %v %s", err, out)
		}
		return true
	}
	why := ""
	if os.Geteuid() != 0 {
		why = "needs root to create a network namespace"
	} else if _, err := exec.LookPath("unshare"); err != nil {
		why = "needs unshare (util-linux)"
	} else if _, err := exec.LookPath("ip"); err != nil {
		why = "needs ip (iproute2)"
	}
	if why != "" {
		if os.Getenv("TETHER_REQUIRE_PEERS") == "1" {
			t.Fatalf("%s (TETHER_REQUIRE_PEERS=1)", why)
		}
		t.Skip(why)
	}
	cmd := exec.Command("unshare", "--net", "--", os.Args[0], "-test.run=^"+t.Name()+"$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), env+"="+t.Name())
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "--- PASS: "+t.Name()) {
		t.Fatalf("in a network namespace: %v\n%s", err, out)
	}
	return false
}

// SetPortRange sets net.ipv4.ip_local_port_range of the namespace the child runs in.
func SetPortRange(t *testing.T, low, high int) {
	t.Helper()
	if os.Getenv(env) == "" {
		t.Fatal("SetPortRange outside a namespace of Run would change the machine's range")
	}
	r := []byte(fmt.Sprintf("%d %d", low, high))
	if err := os.WriteFile("/proc/sys/net/ipv4/ip_local_port_range", r, 0); err != nil {
		t.Fatal(err)
	}
}
