package e2e

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"image/png"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tether-proxy/tether/internal/nginxtest"
)

// statusRow is one backend row as the status page renders it.
type statusRow struct {
	Server string `json:"server"`
	State  string `json:"state"`
	Active string `json:"active"`
}

// TestStatusPageAndDrain loads the admin status page in real headless Chromium and checks that
// its backend rows come from live data: tunnels held open show up as active counts, and a
// backend drained through the admin API shows as draining, gets no new clients, and loses its
// tunnels at the drain deadline (logged "backend drained").
func TestStatusPageAndDrain(t *testing.T) {
	t.Parallel()
	var backends []string
	for range 3 {
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
	adminPort := nginxtest.FreePorts(t, 1)[0]
	admin := fmt.Sprintf("http://127.0.0.1:%d", adminPort)
	dir := t.TempDir()
	proc, ports, _ := startTether(t, dir, 1, func(ports []int) string {
		return fmt.Sprintf(`
[admin]
listen = "127.0.0.1:%d"
[[listeners]]
name = "plain"
listen = "127.0.0.1:%d"
upstream = "app"
preamble = "none"
[upstreams.app]
servers = ["%s", "%s", "%s"]
`, adminPort, ports[0], backends[0], backends[1], backends[2])
	})
	addr := fmt.Sprintf("127.0.0.1:%d", ports[0])

	// Hold tunnels from many client addresses; count where they went from /status.json.
	var held []net.Conn
	defer func() {
		for _, c := range held {
			c.Close()
		}
	}()
	for i := range 24 {
		d := net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 44, byte(i), 1)}}
		c, err := d.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(30 * time.Second))
		c.Write([]byte("x"))
		if _, err := io.ReadFull(c, make([]byte, 1)); err != nil {
			t.Fatal(err)
		}
		held = append(held, c)
	}
	live := func() map[string]int {
		resp, err := http.Get(admin + "/status.json")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var st struct {
			Upstreams []struct {
				Peers []struct {
					Server string
					Active int
				}
			}
		}
		if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
			t.Fatal(err)
		}
		out := map[string]int{}
		for _, p := range st.Upstreams[0].Peers {
			out[p.Server] = p.Active
		}
		return out
	}
	want := live()

	d := startChromium(t)
	var nav struct{ ErrorText string }
	if err := d.call("Page.navigate", map[string]string{"url": admin + "/status"}, &nav, 30*time.Second); err != nil || nav.ErrorText != "" {
		t.Fatalf("navigate: %v %s", err, nav.ErrorText)
	}
	rows := func(minRenders int) []statusRow {
		t.Helper()
		expr := fmt.Sprintf(`document.body && Number(document.body.dataset.rendered||0) >= %d ? Array.from(document.querySelectorAll("table.upstream tr.backend")).map(tr => ({
			server: tr.dataset.server, state: tr.querySelector("td.state").textContent, active: tr.querySelector("td.active").textContent})) : undefined`, minRenders)
		deadline := time.Now().Add(20 * time.Second)
		for {
			var out []statusRow
			ok, err := d.evaluate(expr, &out, 10*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			if ok && len(out) > 0 {
				return out
			}
			if time.Now().After(deadline) {
				t.Fatal("the status page never rendered backend rows")
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	got := rows(1)
	if len(got) != 3 {
		t.Fatalf("page shows %d backend rows, want 3: %+v", len(got), got)
	}
	total := 0
	for _, r := range got {
		if r.State != "up" || r.Active != fmt.Sprint(want[r.Server]) {
			t.Fatalf("row %+v, want state up and %d active (live data %v)", r, want[r.Server], want)
		}
		total += want[r.Server]
	}
	if total != len(held) {
		t.Fatalf("page accounts for %d tunnels, %d are open", total, len(held))
	}

	// Drain the busiest backend with a 1s deadline, its tunnels then closed over 1s.
	victim, most := "", -1
	for server, n := range want {
		if n > most {
			victim, most = server, n
		}
	}
	resp, err := http.Post(admin+"/drain?upstream=app&deadline=1s&spread=1s&server="+victim, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("drain: %d %s", resp.StatusCode, body)
	}
	var rendered int
	d.evaluate(`Number(document.body.dataset.rendered)`, &rendered, 5*time.Second)
	for _, r := range rows(rendered + 1) {
		if r.Server == victim && !strings.HasPrefix(r.State, "draining") {
			t.Fatalf("drained backend shows %q", r.State)
		}
	}
	// No new client goes to the drained backend.
	for i := range 30 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		c.Close()
		_ = i
	}
	proc.waitFor(t, `"reason":"backend drained"`, 10*time.Second)
	proc.waitFor(t, `"msg":"drain deadline reached, closing tunnels"`, 10*time.Second)
	for start := time.Now(); live()[victim] != 0; time.Sleep(50 * time.Millisecond) {
		if time.Since(start) > 10*time.Second {
			t.Fatalf("%d tunnels still on the drained backend 10s after its deadline and 1s spread", live()[victim])
		}
	}

	var shot struct {
		Data string `json:"data"`
	}
	if err := d.call("Page.captureScreenshot", map[string]string{"format": "png"}, &shot, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	data, _ := base64.StdEncoding.DecodeString(shot.Data)
	img, err := png.Decode(bytes.NewReader(data))
	if err != nil || img.Bounds().Dx() != windowWidth {
		t.Fatalf("screenshot: %v", err)
	}
	os.WriteFile(filepath.Join(t.ArtifactDir(), "status.png"), data, 0o644)
	t.Logf("status page: 3 backends, %d tunnels, drained %s (had %d); screenshot %d bytes", len(held), victim, most, len(data))
}
