package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// peer is an external program a test runs, and how to install it on Debian.
type peer struct {
	name    string // executable looked up in $PATH
	install string
}

var (
	nodeJS      = peer{"node", "apt-get install nodejs npm"}
	redisServer = peer{"redis-server", "apt-get install redis-server"}
	chromium    = peer{"chromium", "apt-get install chromium"}
)

// missing skips t with why, or fails it when the environment demands real peers
// (TETHER_REQUIRE_PEERS=1, set by scripts/test).
func missing(t testing.TB, why string) {
	t.Helper()
	if os.Getenv("TETHER_REQUIRE_PEERS") == "1" {
		t.Fatalf("%s (TETHER_REQUIRE_PEERS=1)", why)
	}
	t.Skip(why)
}

// require returns the path of each peer's executable, in order; see missing for when one is
// not installed.
func require(t testing.TB, peers ...peer) []string {
	t.Helper()
	paths := make([]string, len(peers))
	for i, p := range peers {
		path, err := exec.LookPath(p.name)
		if err != nil {
			missing(t, p.name+" is not installed; "+p.install)
		}
		paths[i] = path
	}
	return paths
}

// nodeDir is where the test's node scripts and their npm packages live.
const nodeDir = "node"

// requireNodeModules checks that the npm packages the node scripts load are installed.
func requireNodeModules(t testing.TB) {
	t.Helper()
	for _, pkg := range []string{"socket.io", "socket.io-client", "@socket.io/redis-adapter", "redis", "ws"} {
		if _, err := os.Stat(filepath.Join(nodeDir, "node_modules", pkg, "package.json")); err != nil {
			missing(t, "npm package "+pkg+" is not installed; npm ci --prefix e2e/node")
		}
	}
}
