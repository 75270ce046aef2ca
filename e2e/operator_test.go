package e2e

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// operatorView is what the status page shows, read from its DOM.
type operatorView struct {
	Version, PID, Uptime, RSS, FDs, Goroutines, Loops string
	ActivePoints, NewPoints                           int
	Listener                                          struct {
		Active, Accepted, ConnRate, Refused string
		BytesUp, BytesDown                  string
	}
	Backends []struct {
		Server, State, Active, Total, ConnRate, Button string
	}
}

// operatorViewJS reads operatorView from the page once it rendered at least %d times.
const operatorViewJS = `document.body && Number(document.body.dataset.rendered||0) >= %d ? (() => {
	const $ = s => document.querySelector(s), txt = s => $(s).textContent;
	const l = $("tr.listener");
	return {
		Version: txt("#version"), PID: txt("#pid"), Uptime: txt("#uptime"), RSS: txt("#rss"), FDs: txt("#fds"),
		Goroutines: txt("#goroutines"), Loops: txt("#loops"),
		ActivePoints: Number($("#spark-active").dataset.points || 0), NewPoints: Number($("#spark-new").dataset.points || 0),
		Listener: { Active: l.querySelector(".active").textContent, Accepted: l.querySelector(".accepted").textContent,
			ConnRate: l.querySelector(".conn-rate").textContent, Refused: l.querySelector(".refused").textContent,
			BytesUp: l.querySelector(".bytes").dataset.up, BytesDown: l.querySelector(".bytes").dataset.down },
		Backends: Array.from(document.querySelectorAll("tr.backend")).map(tr => ({
			Server: tr.dataset.server, State: tr.querySelector("td.state").textContent,
			Active: tr.querySelector(".active").textContent, Total: tr.querySelector(".total").textContent,
			ConnRate: tr.querySelector(".conn-rate").textContent, Button: tr.querySelector("button").textContent })),
	};
})() : undefined`

// TestStatusPageForOperators loads the status page in real headless Chromium against a tether
// that carried known traffic, and checks what an operator reads during an incident against
// it: accepted connections, bytes each way, refusals by reason, active tunnels per listener
// and backend, rates, the process (version, pid, memory, open files against the limit,
// goroutines, event loops) and the 15-minute sparklines. Then the drain button: a cancelled
// confirmation changes nothing; a confirmed one drains the backend through the admin API (a
// same-origin POST the cross-site protection lets through), and Undrain brings it back. A
// screenshot is kept as an artifact.
func TestStatusPageForOperators(t *testing.T) {
	t.Parallel()
	var backends []string
	for range 2 {
		ln := listenLoopback(t)
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				go func() { io.Copy(c, c); c.Close() }()
			}
		}()
		backends = append(backends, ln.Addr().String())
	}
	proc, ports, _ := launchTether(t, tetherBinary(t), t.TempDir(), 2, 1, func(ports []int) string {
		return fmt.Sprintf(`
[admin]
listen = "127.0.0.1:%d"
[[listeners]]
name = "plain"
listen = "127.0.0.1:%d"
upstream = "app"
preamble = "none"
max_conns_per_client = 2
[upstreams.app]
servers = [%q, %q]
`, ports[0], ports[1], backends[0], backends[1])
	})
	admin, addr := fmt.Sprintf("http://127.0.0.1:%d", ports[0]), fmt.Sprintf("127.0.0.1:%d", ports[1])
	dial := func(src string) net.Conn {
		d := net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
		c, err := d.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(30 * time.Second))
		return c
	}
	// Six tunnels that each move 1000 bytes each way and end.
	const ended, size = 6, 1000
	for i := range ended {
		c := dial(fmt.Sprintf("127.45.0.%d", i+1))
		msg := strings.Repeat("x", size)
		if _, err := io.WriteString(c, msg); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(c, make([]byte, size)); err != nil {
			t.Fatal(err)
		}
		c.Close()
	}
	proc.waitUntil("6 tunnels closed", func(out string) bool { return strings.Count(out, `"msg":"tunnel closed"`) >= ended }, 10*time.Second)
	// Two tunnels held from one client, whose third connection is refused (max_conns_per_client).
	var held []net.Conn
	for range 2 {
		c := dial("127.45.1.1")
		c.Write([]byte("y"))
		if _, err := io.ReadFull(c, make([]byte, 1)); err != nil {
			t.Fatal(err)
		}
		held = append(held, c)
	}
	defer func() {
		for _, c := range held {
			c.Close()
		}
	}()
	// Refused with a reset, which may come before Dial returns.
	if c, err := (&net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.45.1.1")}}).Dial("tcp", addr); err == nil {
		c.SetDeadline(time.Now().Add(10 * time.Second))
		c.Read(make([]byte, 1))
		c.Close()
	}
	proc.waitFor(t, `"reason":"max_conns_per_client"`, 10*time.Second)

	d := startChromium(t)
	var nav struct{ ErrorText string }
	if err := d.call("Page.navigate", map[string]string{"url": admin + "/status"}, &nav, 30*time.Second); err != nil || nav.ErrorText != "" {
		t.Fatalf("navigate: %v %s", err, nav.ErrorText)
	}
	view := func(minRenders int) operatorView {
		t.Helper()
		var v operatorView
		deadline := time.Now().Add(20 * time.Second)
		for {
			ok, err := d.evaluate(fmt.Sprintf(operatorViewJS, minRenders), &v, 10*time.Second)
			if err != nil {
				var html string
				d.evaluate(`document.documentElement.outerHTML`, &html, 10*time.Second)
				t.Fatalf("%v in:\n%s", err, html)
			}
			if ok {
				return v
			}
			if time.Now().After(deadline) {
				t.Fatalf("the status page never rendered %d times", minRenders)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	v := view(2) // two snapshots: the rates are computed
	pid := strconv.Itoa(proc.cmd.Process.Pid)
	l := v.Listener
	switch {
	case l.Accepted != "9": // 6 ended, 2 held, 1 refused
		t.Errorf("listener accepted %q, want 9", l.Accepted)
	case l.Active != "2":
		t.Errorf("listener active %q, want the 2 held tunnels", l.Active)
	case l.BytesUp != fmt.Sprint(ended*size) || l.BytesDown != fmt.Sprint(ended*size):
		t.Errorf("listener bytes %s up, %s down, want %d each (the ended tunnels')", l.BytesUp, l.BytesDown, ended*size)
	case l.Refused != "max_conns_per_client 1":
		t.Errorf("listener refusals %q, want max_conns_per_client 1", l.Refused)
	case l.ConnRate == "–" || l.ConnRate == "":
		t.Errorf("listener connection rate %q after two snapshots", l.ConnRate)
	}
	if v.PID != pid || v.Version == "" || v.Version == "–" || !strings.Contains(v.FDs, " of ") ||
		v.RSS == "unknown" || v.Goroutines == "0" || !strings.Contains(v.Loops, "tunnels") || v.Uptime == "–" {
		t.Errorf("process %+v (tether pid %s)", v, pid)
	}
	if v.ActivePoints < 1 || v.NewPoints < 1 {
		t.Errorf("sparklines with %d and %d points", v.ActivePoints, v.NewPoints)
	}
	total, active := 0, 0
	for _, b := range v.Backends {
		n, _ := strconv.Atoi(b.Total)
		a, _ := strconv.Atoi(b.Active)
		total, active = total+n, active+a
		if b.State != "up" || b.Button != "Drain" || b.ConnRate == "–" {
			t.Errorf("backend row %+v", b)
		}
	}
	if len(v.Backends) != 2 || total != ended+2 || active != 2 {
		t.Fatalf("backends %+v: %d tunnels opened, %d active; want %d and 2", v.Backends, total, active, ended+2)
	}

	// The drain button, with the browser's confirmation answered by the test.
	victim := v.Backends[0].Server
	click := func(answer bool) string {
		t.Helper()
		var msg string
		js := fmt.Sprintf(`(async () => {
			window.confirm = q => { window.asked = q; return %t; };
			document.querySelector('tr.backend[data-server=%q] button').click();
			for (let i = 0; i < 100; i++) {
				const m = document.getElementById("message").textContent;
				if (m) { document.getElementById("message").textContent = ""; return window.asked + " => " + m; }
				await new Promise(r => setTimeout(r, 50));
			}
			return "no message";
		})()`, answer, victim)
		if _, err := d.evaluate(js, &msg, 10*time.Second); err != nil {
			t.Fatal(err)
		}
		return msg
	}
	state := func() string {
		resp, err := http.Get(admin + "/status.json")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var st struct {
			Upstreams []struct {
				Peers []struct{ Server, State string }
			}
		}
		json.NewDecoder(resp.Body).Decode(&st)
		for _, p := range st.Upstreams[0].Peers {
			if p.Server == victim {
				return p.State
			}
		}
		return "missing"
	}
	if msg := click(false); !strings.Contains(msg, "Drain backend "+victim) || !strings.HasSuffix(msg, "cancelled") || state() != "up" {
		t.Fatalf("cancelled drain: %q, state %s", msg, state())
	}
	if msg := click(true); !strings.HasSuffix(msg, "drain of "+victim+": done (1 peer)") || state() != "draining" {
		t.Fatalf("confirmed drain: %q, state %s", msg, state())
	}
	proc.waitFor(t, `"msg":"backend drain"`, 10*time.Second)
	var rendered int
	d.evaluate(`Number(document.body.dataset.rendered)`, &rendered, 5*time.Second)
	for _, b := range view(rendered + 1).Backends {
		if b.Server == victim && (!strings.HasPrefix(b.State, "draining") || b.Button != "Undrain") {
			t.Fatalf("drained backend's row %+v", b)
		}
	}
	shot(t, d, "status-drained.png")
	if msg := click(true); !strings.HasSuffix(msg, "undrain of "+victim+": done (1 peer)") || state() != "up" {
		t.Fatalf("undrain: %q, state %s", msg, state())
	}
}

// shot saves a screenshot of the page in the test's artifact directory (go test -artifacts).
func shot(t *testing.T, d *devtools, name string) {
	t.Helper()
	var s struct {
		Data string `json:"data"`
	}
	if err := d.call("Page.captureScreenshot", map[string]string{"format": "png"}, &s, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	data, err := base64.StdEncoding.DecodeString(s.Data)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(t.ArtifactDir(), name), data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestStatusPageAsksForTheToken: with [admin] token_file the page's drain button gets 401
// without the token, asks for it once (prompt), retries with "Authorization: Bearer", and
// keeps it for the tab: the undrain that follows asks nothing.
func TestStatusPageAsksForTheToken(t *testing.T) {
	t.Parallel()
	ln := listenLoopback(t)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	dir := t.TempDir()
	writeFile(t, dir, "admin.token", "page-token-42\n")
	_, ports, _ := launchTether(t, tetherBinary(t), dir, 2, 1, func(ports []int) string {
		return fmt.Sprintf(`
[admin]
listen = "127.0.0.1:%d"
token_file = "admin.token"
[[listeners]]
name = "plain"
listen = "127.0.0.1:%d"
upstream = "app"
preamble = "none"
[upstreams.app]
servers = [%q]
`, ports[0], ports[1], ln.Addr().String())
	})
	admin := fmt.Sprintf("http://127.0.0.1:%d", ports[0])
	d := startChromium(t)
	var nav struct{ ErrorText string }
	if err := d.call("Page.navigate", map[string]string{"url": admin + "/status"}, &nav, 30*time.Second); err != nil || nav.ErrorText != "" {
		t.Fatalf("navigate: %v %s", err, nav.ErrorText)
	}
	click := func() string {
		t.Helper()
		var out string
		js := `(async () => {
			for (let i = 0; i < 200 && !document.querySelector("tr.backend button"); i++) await new Promise(r => setTimeout(r, 50));
			window.confirm = () => true;
			window.prompts = window.prompts || 0;
			window.prompt = () => { window.prompts++; return "page-token-42"; };
			document.querySelector("tr.backend button").click();
			for (let i = 0; i < 100; i++) {
				const m = document.getElementById("message").textContent;
				if (m) { document.getElementById("message").textContent = ""; return m + " | prompts " + window.prompts; }
				await new Promise(r => setTimeout(r, 50));
			}
			return "no message";
		})()`
		if _, err := d.evaluate(js, &out, 15*time.Second); err != nil {
			t.Fatal(err)
		}
		return out
	}
	server := ln.Addr().String()
	if got := click(); got != "drain of "+server+": done (1 peer) | prompts 1" {
		t.Fatalf("drain with the token asked for: %q", got)
	}
	for start := time.Now(); ; time.Sleep(50 * time.Millisecond) { // wait for the row to say Undrain
		var label string
		d.evaluate(`document.querySelector("tr.backend button").textContent`, &label, 5*time.Second)
		if label == "Undrain" {
			break
		}
		if time.Since(start) > 10*time.Second {
			t.Fatalf("the button still says %q after the drain", label)
		}
	}
	if got := click(); got != "undrain of "+server+": done (1 peer) | prompts 1" {
		t.Fatalf("undrain with the kept token: %q", got)
	}
	// Without the token the API refuses, as the page saw at first.
	resp, err := http.Post(admin+"/drain?upstream=app&server="+server, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("POST /drain without the token: %s", resp.Status)
	}
}
