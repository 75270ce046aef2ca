package e2e

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tether-proxy/tether/internal/nginxtest"
	"github.com/tether-proxy/tether/internal/websocket"
)

// streamBigMessages is a WebSocket backend that sends binary messages of 100-300 KB, each starting
// with its length (4 bytes, big endian), one every few milliseconds, until the connection ends;
// it answers a close frame (internal/websocket's reader does).
func streamBigMessages(w http.ResponseWriter, r *http.Request) {
	c, err := websocket.Upgrade(w, r)
	if err != nil {
		return
	}
	defer c.Close()
	go func() {
		for {
			if _, _, err := c.ReadMessage(); err != nil {
				return
			}
		}
	}()
	for i := 0; ; i++ {
		msg := make([]byte, 100<<10+rand.IntN(200<<10))
		for j := range msg {
			msg[j] = byte(i)
		}
		binary.BigEndian.PutUint32(msg, uint32(len(msg)))
		if err := c.WriteMessage(websocket.OpBinary, msg); err != nil {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// wsEnd is how a client saw its connection end.
type wsEnd struct {
	Event      string `json:"event"`
	Code       int    `json:"code"`
	Reason     string `json:"reason"`
	WasClean   bool   `json:"wasClean"`
	Messages   int    `json:"messages"`
	Incomplete int    `json:"incomplete"`
}

// chromiumWebSocket opens a WebSocket in the page that counts the messages it gets (and those
// whose length is not the one their first 4 bytes announce) and keeps its close event in
// window.__wsEnd, a promise.
const chromiumWebSocket = `(() => {
  const s = {messages: 0, incomplete: 0};
  window.__wsState = s;
  window.__wsEnd = new Promise((resolve) => {
    const ws = new WebSocket(%q);
    ws.binaryType = 'arraybuffer';
    ws.onmessage = (e) => {
      const ok = e.data instanceof ArrayBuffer && e.data.byteLength >= 4 && new DataView(e.data).getUint32(0) === e.data.byteLength;
      if (!ok) s.incomplete++;
      s.messages++;
    };
    ws.onclose = (e) => resolve({event: 'close', code: e.code, reason: e.reason, wasClean: e.wasClean, messages: s.messages, incomplete: s.incomplete});
  });
  return true;
})()`

// TestBackendDrainEndsWebSocketsPolitely: a backend drained through the admin API with a short
// deadline while it streams 100-300 KB messages: a node `ws` client and headless Chromium get
// only whole messages, then a close frame 1001 (Chromium: wasClean true), and tether logs
// `"close":"ws 1001"` beside `"reason":"backend drained"` (issue 14); on a plain listener and on
// a TLS one.
func TestBackendDrainEndsWebSocketsPolitely(t *testing.T) {
	t.Parallel()
	for _, useTLS := range []bool{false, true} {
		name := map[bool]string{false: "ws", true: "wss"}[useTLS]
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			drainWhileStreaming(t, useTLS)
		})
	}
}

// drainWhileStreaming is TestBackendDrainEndsWebSocketsPolitely on a plain or a TLS listener.
func drainWhileStreaming(t *testing.T, useTLS bool) {
	paths := require(t, nodeJS, chromium)
	requireNodeModules(t)
	dir := t.TempDir()
	caFile := testCert(t, dir)
	tlsTable, scheme := "", "ws"
	if useTLS {
		tlsTable, scheme = "  [listeners.tls]\n  cert = \"cert.pem\"\n  key = \"key.pem\"\n", "wss"
	}
	ln := listenLoopback(t)
	hs := &http.Server{Handler: http.HandlerFunc(streamBigMessages)}
	go hs.Serve(ln)
	t.Cleanup(func() { hs.Close() })
	backend := ln.Addr().String()

	adminPort := nginxtest.FreePorts(t, 1)[0]
	proc, ports, _ := startTether(t, dir, 1, func(ports []int) string {
		return fmt.Sprintf(`
[admin]
listen = "127.0.0.1:%d"
[[listeners]]
name = "ws"
listen = "127.0.0.1:%d"
upstream = "app"
preamble = "websocket"
%s
[upstreams.app]
servers = [%q]
`, adminPort, ports[0], tlsTable, backend)
	})
	url := fmt.Sprintf("%s://127.0.0.1:%d/stream", scheme, ports[0])

	node := startChild(t, "wsdrain.js", exec.Command(paths[0], filepath.Join(nodeDir, "wsdrain.js"), url, caFile))
	d := startChromium(t)
	if _, err := d.evaluate(fmt.Sprintf(chromiumWebSocket, url), new(bool), 10*time.Second); err != nil {
		t.Fatal(err)
	}
	node.waitFor(t, `"event":"message"`, 20*time.Second)
	for deadline := time.Now().Add(20 * time.Second); ; {
		var n int
		if _, err := d.evaluate(`window.__wsState.messages`, &n, 5*time.Second); err != nil {
			t.Fatal(err)
		}
		if n > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("Chromium got no message")
		}
		time.Sleep(20 * time.Millisecond)
	}

	resp, err := http.Post(fmt.Sprintf("http://127.0.0.1:%d/drain?upstream=app&server=%s&deadline=200ms&spread=0s", adminPort, backend), "", nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("drain: %d %s", resp.StatusCode, body)
	}

	var ends []wsEnd
	var browser wsEnd
	if _, err := d.evaluate(`window.__wsEnd`, &browser, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	ends = append(ends, browser)
	node.waitFor(t, `"event":"close"`, 30*time.Second)
	for line := range strings.Lines(node.output()) {
		var e wsEnd
		if json.Unmarshal([]byte(line), &e) == nil && e.Event == "close" {
			e.WasClean = true // ws has no wasClean; the close frame's code says it
			ends = append(ends, e)
		}
	}
	for i, e := range ends {
		who := []string{"chromium", "node ws"}[min(i, 1)]
		if e.Code != 1001 || !e.WasClean || e.Messages == 0 || e.Incomplete != 0 {
			t.Errorf("%s: %+v; want code 1001, a clean close, whole messages only", who, e)
		}
	}
	if len(ends) != 2 {
		t.Fatalf("node printed no close:\n%s", node.output())
	}
	t.Logf("endings: %+v", ends)
	proc.waitFor(t, `"close":"ws 1001"`, 10*time.Second)
	if out := proc.output(); !strings.Contains(out, `"reason":"backend drained"`) || strings.Contains(out, `"close":"cut"`) {
		t.Errorf("tether's log lacks the polite endings:\n%s", tail(out, 4000))
	}
}

// TestBackendDrainReconnectsSocketIO: Socket.io clients (socket.io-client over WebSocket, half
// of them after long-polling) on a backend drained with a short deadline lose their connection
// to the polite ending and reconnect at once, each to the node `tether lookup` names for its
// address once the drained server is `down` (a drained backend is skipped like `down`); the
// clients of the other nodes keep theirs, and tether logs every ending as `"close":"ws 1001"`.
func TestBackendDrainReconnectsSocketIO(t *testing.T) {
	t.Parallel()
	nodeBin := require(t, nodeJS, redisServer)[0]
	requireNodeModules(t)
	nodes := startCluster(t, nodeBin, startRedis(t), 3)
	nodeAt := make(map[string]string) // backend address -> node name
	addrOf := make(map[string]string) // node name -> backend address
	var servers []string
	for _, n := range nodes {
		nodeAt[n.addr], addrOf[n.name] = n.name, n.addr
		servers = append(servers, fmt.Sprintf("%q", n.addr))
	}
	dir := t.TempDir()
	adminPort := nginxtest.FreePorts(t, 1)[0]
	proc, ports, config := startTether(t, dir, 1, func(ports []int) string {
		return fmt.Sprintf(`
[admin]
listen = "127.0.0.1:%d"
[[listeners]]
name = "socketio"
listen = "127.0.0.1:%d"
upstream = "cluster"
preamble = "http"
[upstreams.cluster]
balance = "hash-consistent"
servers = [%s]
`, adminPort, ports[0], strings.Join(servers, ", "))
	})
	specs := clientPlan(24)
	cfg, err := json.Marshal(map[string]any{"url": fmt.Sprintf("http://127.0.0.1:%d", ports[0]), "timeoutMs": 10000, "clients": specs})
	if err != nil {
		t.Fatal(err)
	}
	clients := startChild(t, "drainclients.js", exec.Command(nodeBin, filepath.Join(nodeDir, "drainclients.js"), string(cfg)))
	clients.waitFor(t, `"event":"ready"`, 60*time.Second)
	var ready struct {
		Clients []struct{ Addr, Node string }
	}
	for line := range strings.Lines(clients.output()) {
		if strings.Contains(line, `"event":"ready"`) {
			if err := json.Unmarshal([]byte(line), &ready); err != nil {
				t.Fatal(err)
			}
		}
	}
	on := make(map[string][]string) // node -> its clients
	for _, c := range ready.Clients {
		on[c.Node] = append(on[c.Node], c.Addr)
	}
	victim := ""
	for node, addrs := range on {
		if victim == "" || len(addrs) > len(on[victim]) {
			victim = node
		}
	}
	moved := on[victim]

	resp, err := http.Post(fmt.Sprintf("http://127.0.0.1:%d/drain?upstream=cluster&server=%s&deadline=200ms&spread=0s", adminPort, addrOf[victim]), "", nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("drain: %d %s", resp.StatusCode, body)
	}
	type reconnected struct {
		Event, Addr, From, Node, Reason string
		Ms                              int
	}
	var got map[string]reconnected
	err = clients.waitUntil(fmt.Sprintf("%d reconnections", len(moved)), func(out string) bool {
		got = make(map[string]reconnected)
		for line := range strings.Lines(out) {
			var r reconnected
			if json.Unmarshal([]byte(line), &r) == nil && r.Event == "reconnected" {
				got[r.Addr] = r
			}
		}
		return len(got) >= len(moved)
	}, 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}

	// Where tether sends them now: the same ring with the drained server down.
	orig, err := os.ReadFile(config)
	if err != nil {
		t.Fatal(err)
	}
	downConfig := strings.Replace(string(orig), fmt.Sprintf("%q", addrOf[victim]), fmt.Sprintf("%q", addrOf[victim]+" down"), 1)
	want := lookup(t, writeFile(t, t.TempDir(), "down.toml", downConfig), "socketio", moved)
	for _, addr := range moved {
		r, ok := got[addr]
		switch {
		case !ok:
			t.Errorf("%s (on %s) did not reconnect", addr, victim)
		case r.From != victim || r.Node != nodeAt[want[addr]]:
			t.Errorf("%s moved from %s to %s; tether lookup says %s (%s)", addr, r.From, r.Node, nodeAt[want[addr]], want[addr])
		}
	}
	for addr, r := range got {
		if r.From != victim {
			t.Errorf("%s on %s lost its connection too (%s)", addr, r.From, r.Reason)
		}
	}
	_ = proc.waitUntil("the polite endings", func(out string) bool {
		return strings.Count(out, `"close":"ws 1001"`) >= len(moved)
	}, 10*time.Second)
	if out := proc.output(); strings.Count(out, `"close":"ws 1001"`) < len(moved) || strings.Contains(out, `"close":"cut"`) {
		t.Errorf("tether logged %d polite endings for %d clients:\n%s", strings.Count(out, `"close":"ws 1001"`), len(moved), tail(out, 4000))
	}
	t.Logf("drained %s: %d clients reconnected, e.g. %+v", victim, len(moved), got[moved[0]])
}
