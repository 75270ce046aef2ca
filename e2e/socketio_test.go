package e2e

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// sessionUnknown is engine.io's answer (HTTP 400, error code 1) to a request for a session
// that lives on another node: the failure of a cluster without sticky sessions
// (https://socket.io/docs/v4/using-multiple-nodes/).
const sessionUnknown = "Session ID unknown"

// TestSocketIOCluster puts three Socket.io nodes sharing the Redis adapter behind tether (TLS,
// preamble "http", hash-consistent) and runs 60 real socket.io-client clients against it, half
// with the default transports (HTTP long-polling, then the upgrade to WebSocket) and half with
// WebSocket only, each from its own loopback address. Everything a sticky cluster needs must
// hold (clientsReport.problems), without a single refused request on any node, and every client
// must land where `tether lookup` says. The same clients against a round-robin proxy must fail
// with engine.io's "Session ID unknown": the test catches a front that is not sticky.
func TestSocketIOCluster(t *testing.T) {
	nodeBin := require(t, nodeJS, redisServer)[0]
	requireNodeModules(t)
	dir := t.TempDir()
	caFile := testCert(t, dir)
	nodes := startCluster(t, nodeBin, startRedis(t), 3)
	nodeAt := make(map[string]string) // backend address -> node name
	var servers []string
	for _, n := range nodes {
		nodeAt[n.addr] = n.name
		servers = append(servers, fmt.Sprintf("%q", n.addr))
	}
	specs := clientPlan(60)

	t.Run("tether", func(t *testing.T) {
		tether, ports, config := startTether(t, dir, 1, func(ports []int) string {
			return fmt.Sprintf(`
[[listeners]]
name = "socketio"
listen = "127.0.0.1:%d"
upstream = "cluster"
preamble = "http"
  [listeners.tls]
  cert = "cert.pem"
  key = "key.pem"

[upstreams.cluster]
balance = "hash-consistent"
servers = [%s]
`, ports[0], strings.Join(servers, ", "))
		})
		offsets := outputOffsets(nodes)
		report := runClients(t, nodeBin, fmt.Sprintf("https://127.0.0.1:%d", ports[0]), caFile, specs, 10*time.Second)
		problems := append(report.problems(nodes), refusals(t, nodes, offsets)...)
		for i, p := range problems {
			if i == 20 {
				t.Errorf("... and %d more problems", len(problems)-i)
				break
			}
			t.Error(p)
		}

		addrs := make([]string, len(specs))
		for i, s := range specs {
			addrs[i] = s.Addr
		}
		want := lookup(t, config, "socketio", addrs)
		spread := make(map[string]int)
		for _, c := range report.Clients {
			spread[c.Node]++
			if wantNode := nodeAt[want[c.Addr]]; c.Node != wantNode {
				t.Errorf("%s was served by %q, tether lookup says %s (%s)", c.Addr, c.Node, wantNode, want[c.Addr])
			}
		}
		for line := range strings.Lines(tether.output()) {
			if strings.Contains(line, `"msg":"connection rejected"`) {
				t.Errorf("tether rejected a connection: %s", line)
			}
		}
		t.Logf("%d clients, spread %v, %d broadcasts each heard by all, %d tunnels closed",
			len(report.Clients), spread, len(report.Tokens), strings.Count(tether.output(), `"msg":"tunnel closed"`))
	})

	t.Run("round-robin is caught", func(t *testing.T) {
		addr := startRoundRobin(t, filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem"), nodeAddrs(nodes))
		offsets := outputOffsets(nodes)
		// Clients stuck behind it fail sooner; the failure itself does not depend on the timeout.
		report := runClients(t, nodeBin, "https://"+addr, caFile, specs, 4*time.Second)
		problems := report.problems(nodes)
		refused := refusals(t, nodes, offsets)
		if len(problems) == 0 {
			t.Fatal("every client passed behind a round-robin proxy: the test cannot catch a non-sticky front")
		}
		clientSaw, nodeSaid := countContaining(problems, sessionUnknown), countContaining(refused, sessionUnknown)
		if clientSaw == 0 || nodeSaid == 0 {
			t.Errorf("round-robin: clients saw %q %d times, nodes refused with it %d times; want both > 0. Problems:\n%s",
				sessionUnknown, clientSaw, nodeSaid, strings.Join(problems[:min(len(problems), 20)], "\n"))
		}
		for _, p := range problems[:min(len(problems), 8)] {
			t.Log(p)
		}
		t.Logf("round-robin caught: %d problems, %q seen by clients %d times, refused by nodes %d times (%d refusals in all); e.g. %s",
			len(problems), sessionUnknown, clientSaw, nodeSaid, len(refused), problems[0])
	})
}

// nodeAddrs returns the nodes' addresses.
func nodeAddrs(nodes []clusterNode) []string {
	addrs := make([]string, len(nodes))
	for i, n := range nodes {
		addrs[i] = n.addr
	}
	return addrs
}

// countContaining counts the lines that contain sub.
func countContaining(lines []string, sub string) int {
	n := 0
	for _, l := range lines {
		if strings.Contains(l, sub) {
			n++
		}
	}
	return n
}
