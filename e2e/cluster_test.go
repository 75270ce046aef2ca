package e2e

import (
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// clusterNode is one running Socket.io node (node/cluster-node.js).
type clusterNode struct {
	name string
	addr string // host:port it serves plain HTTP on
	proc *child
}

// startCluster runs n Socket.io nodes sharing the Redis at redisURL and waits until every one
// of them sees all n on the shared channel.
func startCluster(t testing.TB, nodeBin, redisURL string, n int) []clusterNode {
	t.Helper()
	script, err := filepath.Abs(filepath.Join(nodeDir, "cluster-node.js"))
	if err != nil {
		t.Fatal(err)
	}
	nodes := make([]clusterNode, n)
	for i := range nodes {
		name := fmt.Sprintf("node-%d", i+1)
		proc, ports := startOnFreePorts(t, name, 1, func(ports []int) *exec.Cmd {
			return exec.Command(nodeBin, script, name, strconv.Itoa(ports[0]), redisURL, strconv.Itoa(n))
		}, `"event":"listening"`, func(out string) bool { return strings.Contains(out, `"event":"listening"`) })
		nodes[i] = clusterNode{name: name, addr: fmt.Sprintf("127.0.0.1:%d", ports[0]), proc: proc}
	}
	for _, node := range nodes {
		node.proc.waitFor(t, `"event":"ready"`, 30*time.Second)
	}
	return nodes
}

// nodeEvent is one JSON line a Socket.io node printed.
type nodeEvent struct {
	Event   string `json:"event"`
	Node    string `json:"node"`
	Code    int    `json:"code"`
	Message string `json:"message"`
	Status  int    `json:"status"`
	Method  string `json:"method"`
	URL     string `json:"url"`
}

// refusals returns the requests the nodes refused in the output each printed after offsets[i]
// (connection_error and http_error events), one line each.
func refusals(t testing.TB, nodes []clusterNode, offsets []int) []string {
	t.Helper()
	var out []string
	for i, node := range nodes {
		for line := range strings.Lines(node.proc.output()[offsets[i]:]) {
			var ev nodeEvent
			if !strings.HasPrefix(line, "{") {
				continue // a warning from node itself; it shows in the log on failure
			}
			if err := json.Unmarshal([]byte(line), &ev); err != nil {
				t.Fatalf("%s printed %q: %v", node.name, line, err)
			}
			switch ev.Event {
			case "connection_error":
				out = append(out, fmt.Sprintf("%s refused %s: engine.io error %d %q", ev.Node, ev.URL, ev.Code, ev.Message))
			case "http_error":
				out = append(out, fmt.Sprintf("%s answered HTTP %d to %s %s", ev.Node, ev.Status, ev.Method, ev.URL))
			}
		}
	}
	return out
}

// outputOffsets returns how much each node has printed so far.
func outputOffsets(nodes []clusterNode) []int {
	offsets := make([]int, len(nodes))
	for i, node := range nodes {
		offsets[i] = len(node.proc.output())
	}
	return offsets
}
