package e2e

import (
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"testing"
)

// startRedis runs a private, memory-only redis-server on a free loopback port for the test and
// returns its URL.
func startRedis(t testing.TB) string {
	t.Helper()
	bin := require(t, redisServer)[0]
	dir := t.TempDir()
	_, ports := startOnFreePorts(t, "redis-server", 1, func(ports []int) *exec.Cmd {
		return exec.Command(bin, "--port", strconv.Itoa(ports[0]), "--bind", "127.0.0.1",
			"--save", "", "--appendonly", "no", "--dir", dir)
	}, `"Ready to accept connections"`, func(out string) bool {
		return strings.Contains(out, "Ready to accept connections")
	})
	return fmt.Sprintf("redis://127.0.0.1:%d", ports[0])
}
