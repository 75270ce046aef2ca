package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// clientSpec is one Socket.io client for node/clients.js: its source address and transports.
type clientSpec struct {
	Addr       string   `json:"addr"`
	Transports []string `json:"transports"`
}

// Socket.io's transport lists: the default (HTTP long-polling, then upgrade) and WebSocket only.
var (
	pollingThenUpgrade = []string{"polling", "websocket"}
	websocketOnly      = []string{"websocket"}
)

// clientPlan returns n clients on distinct loopback addresses, alternating the default
// transports and WebSocket only.
func clientPlan(n int) []clientSpec {
	specs := make([]clientSpec, n)
	for i := range specs {
		specs[i].Addr = fmt.Sprintf("127.%d.%d.%d", 20+i%3, i/7, 1+i*11%250)
		specs[i].Transports = pollingThenUpgrade
		if i%2 == 1 {
			specs[i].Transports = websocketOnly
		}
	}
	return specs
}

// clientResult is what node/clients.js reports for one client.
type clientResult struct {
	Addr           string   `json:"addr"`
	Transports     []string `json:"transports"`
	Connected      bool     `json:"connected"`
	FirstTransport string   `json:"firstTransport"` // the transport the connection opened on
	Upgraded       bool     `json:"upgraded"`
	Node           string   `json:"node"`      // the node that answered whoami
	Transport      string   `json:"transport"` // the node's view of the transport after the upgrade
	Echo           bool     `json:"echo"`
	Broadcasts     []string `json:"broadcasts"` // tokens received
	Shouted        string   `json:"shouted"`    // the token this client broadcast, if any
	ReconnectNode  string   `json:"reconnectNode"`
	Errors         []string `json:"errors"`
}

// clientsReport is node/clients.js's whole output.
type clientsReport struct {
	Tokens  []string       `json:"tokens"`
	Clients []clientResult `json:"clients"`
}

// runClients runs the clients against url, trusting the certificate in caFile, and returns
// their report. Each step of each client gives up after stepTimeout.
func runClients(t testing.TB, nodeBin, url, caFile string, specs []clientSpec, stepTimeout time.Duration) clientsReport {
	t.Helper()
	config, err := json.Marshal(map[string]any{"url": url, "ca": caFile, "timeoutMs": stepTimeout.Milliseconds(), "clients": specs})
	if err != nil {
		t.Fatal(err)
	}
	// A handful of steps, each bounded: the whole run stays far below this.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, nodeBin, filepath.Join(nodeDir, "clients.js"), string(config))
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("node clients.js: %v\n%s", err, tail(stderr.String(), 4000))
	}
	var report clientsReport
	if err := json.Unmarshal(stdout.Bytes(), &report); err != nil {
		t.Fatalf("node clients.js printed %q: %v\nstderr: %s", tail(stdout.String(), 2000), err, tail(stderr.String(), 2000))
	}
	if len(report.Clients) != len(specs) {
		t.Fatalf("clients.js reported %d clients, want %d", len(report.Clients), len(specs))
	}
	return report
}

// problems lists every way the run broke what a sticky Socket.io cluster must hold (issue 5,
// item 1): every client connects, upgrades to WebSocket and echoes without a single error;
// one broadcast from each node reaches every client; a client reconnecting from the same
// address lands on the same node; and the clients are spread over all nodes.
func (r clientsReport) problems(nodes []clusterNode) []string {
	var out []string
	add := func(c clientResult, format string, args ...any) {
		out = append(out, fmt.Sprintf("%s %v: ", c.Addr, c.Transports)+fmt.Sprintf(format, args...))
	}
	used := make(map[string]int)
	for _, c := range r.Clients {
		for _, e := range c.Errors {
			add(c, "error: %s", e)
		}
		if !c.Connected {
			add(c, "never connected")
			continue
		}
		if c.FirstTransport != c.Transports[0] {
			add(c, "opened on %q, not %q", c.FirstTransport, c.Transports[0])
		}
		if !c.Upgraded || c.Transport != "websocket" {
			add(c, "not upgraded to WebSocket (transport %q)", c.Transport)
		}
		if !c.Echo {
			add(c, "echo failed or came from another node")
		}
		used[c.Node]++
		for _, token := range r.Tokens {
			if !slices.Contains(c.Broadcasts, token) {
				add(c, "missed the broadcast %q", token)
			}
		}
		if c.ReconnectNode != c.Node {
			add(c, "was on %s, reconnected to %q", c.Node, c.ReconnectNode)
		}
	}
	for _, n := range nodes {
		if used[n.name] == 0 {
			out = append(out, fmt.Sprintf("no client landed on %s (spread %v)", n.name, used))
		}
	}
	if len(r.Tokens) != len(nodes) {
		out = append(out, fmt.Sprintf("%d broadcasts sent, want one from a client on each of %d nodes", len(r.Tokens), len(nodes)))
	}
	return out
}
