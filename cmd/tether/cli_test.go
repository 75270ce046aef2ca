package main

import (
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tether-proxy/tether/internal/nginxtest"
	"github.com/tether-proxy/tether/internal/websocket"
	"github.com/tether-proxy/tether/tlsterm"
)

func TestVersion(t *testing.T) {
	t.Parallel()
	code, out, _ := runTether(t, "", "version")
	if code != 0 || !strings.HasPrefix(out, "tether ") {
		t.Fatalf("version: exit %d, %q", code, out)
	}
}

// TestCheck runs `tether check` like an operator would: exit status and every problem with
// its position.
func TestCheck(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cert, err := tlsterm.SelfSigned("localhost")
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := tlsterm.WritePEM(dir, cert); err != nil {
		t.Fatal(err)
	}
	writeFile(t, dir, "garbage.pem", "not a certificate\n")
	tests := []struct {
		name, config string
		wantCode     int
		want         []string // substrings of the output, in order
	}{
		{
			name: "valid",
			config: `
[[listeners]]
name = "wss"
listen = "127.0.0.1:8443"
upstream = "app"
  [listeners.tls]
  cert = "cert.pem"
  key = "key.pem"
[upstreams.app]
servers = ["127.0.0.1:3001", "localhost:3002 weight=2", "127.0.0.1:3003 down"]
`,
			want: []string{"syntax is ok", "test is successful"},
		},
		{
			name: "every problem with its position",
			config: `[[listeners]]
name = "a"
listen = "127.0.0.1:99999"
upsteam = "app"
preamble = "ws"

[upstreams.app]
balance = "random"
servers = ["127.0.0.1:3001 weight=0", "127.0.0.1"]
[upstreams.app.timeouts]
`,
			wantCode: 1,
			want: []string{
				`bad.toml:3: listeners[0].listen:`, `port 99999`,
				`bad.toml:4: listeners[0].upsteam: unknown key`, `upstream`,
				`bad.toml:5: listeners[0].preamble:`,
				`bad.toml:8: upstreams.app.balance:`,
				`bad.toml:9: upstreams.app.servers[0]:`, `weight`,
				`bad.toml:9: upstreams.app.servers[1]:`, `port`,
				"test failed",
			},
		},
		{
			name: "source addresses: not local, duplicated, of a family no backend has",
			config: `[[listeners]]
name = "a"
listen = "127.0.0.1:8000"
upstream = "app"
[upstreams.app]
servers = ["127.0.0.1:3001"]
source = ["127.0.0.2", "192.0.2.7", "127.0.0.2", "::1"]
`,
			wantCode: 1,
			want: []string{
				`bad.toml:7: upstreams.app.source[1]: source address 192.0.2.7 is not an address of this host`,
				`bad.toml:7: upstreams.app.source[2]: duplicate source address 127.0.0.2`,
				"test failed",
			},
		},
		{
			name:     "syntax error",
			config:   "[[listeners]]\nname = = 1\n",
			wantCode: 1,
			want:     []string{"bad.toml:2", "test failed"},
		},
		{
			name: "unresolvable server name",
			config: `[[listeners]]
name = "a"
listen = "127.0.0.1:8000"
upstream = "app"
[upstreams.app]
servers = ["no-such-host.invalid:3001"]
`,
			wantCode: 1,
			want:     []string{"no-such-host.invalid", "test failed"},
		},
		{
			name: "admin token file that cannot be read",
			config: `[admin]
hosts = ["proxy.example.com"]
token_file = "missing.token"
[[listeners]]
name = "a"
listen = "127.0.0.1:8000"
upstream = "app"
[upstreams.app]
servers = ["127.0.0.1:3001"]
`,
			wantCode: 1,
			want:     []string{`bad.toml:3: admin.token_file: cannot read token file "missing.token"`, "no such file", "test failed"},
		},
		{
			name: "certificate that does not load",
			config: `[[listeners]]
name = "a"
listen = "127.0.0.1:8000"
upstream = "app"
  [listeners.tls]
  cert = "garbage.pem"
  key = "key.pem"
[upstreams.app]
servers = ["127.0.0.1:3001"]
`,
			wantCode: 1,
			want:     []string{"garbage.pem", "test failed"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			name := "bad.toml"
			if tc.wantCode == 0 {
				name = "good.toml"
			}
			path := writeFile(t, dir, name, tc.config)
			code, stdout, stderr := runTether(t, "", "check", "-c", path)
			out := stdout + stderr
			if code != tc.wantCode {
				t.Fatalf("exit %d, want %d:\n%s", code, tc.wantCode, out)
			}
			rest := out
			for _, w := range tc.want {
				i := strings.Index(rest, w)
				if i < 0 {
					t.Fatalf("output lacks %q (in order):\n%s", w, out)
				}
				rest = rest[i+len(w):]
			}
		})
	}
}

// tokenBackend answers every connection to ln with name and a newline, then closes it. It
// takes the listener (bound to port 0) rather than an address to bind again, which another
// socket could take meanwhile.
func tokenBackend(t *testing.T, ln net.Listener, name string) {
	t.Helper()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			io.WriteString(c, name+"\n")
			c.Close()
		}
	}()
	t.Cleanup(func() { ln.Close(); wg.Wait() })
}

// ask connects from src to addr and returns the token the backend sent ("" when closed without one).
func ask(t *testing.T, src netip.Addr, addr string) string {
	t.Helper()
	d := net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: src.AsSlice()}}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("dial %s from %s: %v", addr, src, err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	b, _ := io.ReadAll(c)
	return strings.TrimSpace(string(b))
}

// TestParityWithNginx runs a real nginx and a real `tether run` on the same backends with the
// same server lines (host names, weights, a `down` server and one that refuses connections), in
// both hash modes, and sends the same client addresses through both: every client must reach
// the same backend, and `tether lookup` must name it too wherever the backends it assumes
// healthy are.
func TestParityWithNginx(t *testing.T) {
	nginxtest.Require(t)
	t.Parallel()
	var lines []string
	// Backends, named exactly as their server lines.
	type srv struct{ name, params string }
	var servers []srv
	for _, spec := range []struct{ bind, host, params string }{
		{"127.0.0.1:0", "127.0.0.1", ""},
		{"127.0.0.1:0", "localhost", "weight=2"},
		{"127.0.0.71:0", "127.0.0.71", "weight=3"},
		{"127.0.0.72:0", "127.0.0.72", ""},
		{"127.0.0.73:0", "127.0.0.73", "down"},
	} {
		ln, err := net.Listen("tcp", spec.bind)
		if err != nil {
			t.Fatal(err)
		}
		_, port, _ := net.SplitHostPort(ln.Addr().String())
		name := spec.host + ":" + port
		tokenBackend(t, ln, name)
		servers = append(servers, srv{name, spec.params})
	}
	// One server that refuses every connection: nginx and tether must both move its clients on.
	dead := nginxtest.FreePorts(t, 1)[0]
	servers = append(servers, srv{fmt.Sprintf("127.0.0.1:%d", dead), ""})
	for _, s := range servers {
		lines = append(lines, strings.TrimSpace(s.name+" "+s.params))
	}

	modes := []struct{ balance, directive string }{
		{"hash-consistent", "hash $remote_addr consistent;"},
		{"hash", "hash $remote_addr;"},
	}
	ngxPorts := nginxtest.Start(t, len(modes), func(ports []int) string {
		var b strings.Builder
		for i, m := range modes {
			fmt.Fprintf(&b, "    upstream u%d {\n        %s\n", i, m.directive)
			for _, l := range lines {
				fmt.Fprintf(&b, "        server %s;\n", l)
			}
			fmt.Fprintf(&b, "    }\n    server {\n        listen 127.0.0.1:%d;\n        proxy_pass u%d;\n    }\n", ports[i], i)
		}
		return b.String()
	})

	dir := t.TempDir()
	var cfg strings.Builder
	tetherPorts := nginxtest.FreePorts(t, len(modes))
	quoted := make([]string, len(lines))
	for i, l := range lines {
		quoted[i] = fmt.Sprintf("%q", l)
	}
	for i, m := range modes {
		fmt.Fprintf(&cfg, "[[listeners]]\nname = \"l%d\"\nlisten = \"127.0.0.1:%d\"\nupstream = \"u%d\"\npreamble = \"none\"\n\n", i, tetherPorts[i], i)
		fmt.Fprintf(&cfg, "[upstreams.u%d]\nbalance = %q\nservers = [%s]\n\n", i, m.balance, strings.Join(quoted, ", "))
	}
	cfgPath := writeFile(t, dir, "tether.toml", cfg.String())
	p := start(t, "run", "-c", cfgPath)
	p.waitOutput(t, `"listener":"l1"`)

	for i, m := range modes {
		var clients []netip.Addr
		var stdin strings.Builder
		for j := range 250 {
			src := netip.AddrFrom4([4]byte{127, byte(1 + j%250), byte(j * 37 % 256), byte(1 + (j*101)%250)})
			clients = append(clients, src)
			stdin.WriteString(src.String() + "\n")
		}
		code, out, errOut := runTether(t, stdin.String(), "lookup", "-c", cfgPath, "-u", fmt.Sprintf("u%d", i), "-")
		if code != 0 {
			t.Fatalf("lookup: exit %d: %s", code, errOut)
		}
		answers := map[string]string{}
		for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
			f := strings.Fields(l)
			if len(f) != 3 {
				t.Fatalf("lookup line %q: want <addr> <backend> <server>", l)
			}
			answers[f[0]] = f[2]
		}
		seen := map[string]int{}
		checkedLookup := 0
		for _, src := range clients {
			viaNginx := ask(t, src, fmt.Sprintf("127.0.0.1:%d", ngxPorts[i]))
			viaTether := ask(t, src, fmt.Sprintf("127.0.0.1:%d", tetherPorts[i]))
			if viaNginx == "" || viaNginx != viaTether {
				t.Fatalf("%s client %s: nginx sent it to %q, tether to %q", m.balance, src, viaNginx, viaTether)
			}
			seen[viaTether]++
			if lk := answers[src.String()]; lk != fmt.Sprintf("127.0.0.1:%d", dead) {
				checkedLookup++
				if lk != viaTether {
					t.Fatalf("%s client %s: tether lookup says %q, live connection reached %q", m.balance, src, lk, viaTether)
				}
			}
		}
		t.Logf("%s: %d clients, nginx == tether for all; lookup checked for %d; spread %v", m.balance, len(clients), checkedLookup, seen)
		if len(seen) < 3 {
			t.Fatalf("%s: clients reached only %v", m.balance, seen)
		}
	}
	if !strings.Contains(p.output(), "backend connect failed") {
		t.Fatal("tether never logged the refused backend")
	}
}

// TestRunDrainsOnSIGTERM: SIGTERM stops accepting, lets a tunnel live through the drain
// timeout, then closes it and exits 0.
func TestRunDrainsOnSIGTERM(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { io.Copy(c, c); c.Close() }()
		}
	}()
	cfg := writeFile(t, t.TempDir(), "tether.toml", fmt.Sprintf(`
drain_timeout = "1s"
[[listeners]]
name = "l"
listen = "127.0.0.1:0"
upstream = "echo"
preamble = "none"
[upstreams.echo]
servers = ["%s"]
`, ln.Addr()))
	p := start(t, "run", "-c", cfg)
	c, err := net.Dial("tcp", p.loggedAddr(t, "listening", "l"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(15 * time.Second))
	roundTrip := func() error {
		if _, err := io.WriteString(c, "ping"); err != nil {
			return err
		}
		_, err := io.ReadFull(c, make([]byte, 4))
		return err
	}
	if err := roundTrip(); err != nil {
		t.Fatal(err)
	}
	sent := time.Now()
	p.cmd.Process.Signal(syscall.SIGTERM)
	p.waitOutput(t, "shutting down")
	if err := roundTrip(); err != nil {
		t.Fatalf("tunnel broke at the start of the drain: %v", err)
	}
	if code := p.wait(t); code != 0 {
		t.Fatalf("exit code %d", code)
	}
	if d := time.Since(sent); d < 900*time.Millisecond {
		t.Fatalf("exited %v after SIGTERM, before the 1s drain timeout", d)
	}
	if _, err := c.Read(make([]byte, 1)); err == nil {
		t.Fatal("tunnel still open after tether exited")
	}
	for _, want := range []string{`"reason":"drain"`, "drain cut short"} {
		if !strings.Contains(p.output(), want) {
			t.Fatalf("output lacks %q", want)
		}
	}
}

// TestDemo runs `tether demo` like the README says and uses it: HTTPS through the TLS listener,
// sticky per client address, and a WebSocket echo over wss.
func TestDemo(t *testing.T) {
	t.Parallel()
	port := nginxtest.FreePorts(t, 1)[0]
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	p := start(t, "demo", "-listen", addr)
	p.waitOutput(t, "tether demo: https://"+addr)
	p.waitOutput(t, `msg=listening`)

	whoami := func(src string) string {
		tr := &http.Transport{
			TLSClientConfig: &tls.Config{InsecureSkipVerify: true},
			DialContext:     (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}).DialContext,
		}
		defer tr.CloseIdleConnections()
		resp, err := (&http.Client{Transport: tr, Timeout: 10 * time.Second}).Get("https://" + addr + "/whoami")
		if err != nil {
			t.Fatalf("GET /whoami from %s: %v", src, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return strings.TrimSpace(string(b))
	}
	backends := map[string]bool{}
	for i := 1; i <= 12; i++ {
		src := fmt.Sprintf("127.0.%d.%d", i, i)
		first := whoami(src)
		if !strings.HasPrefix(first, "backend-") {
			t.Fatalf("whoami = %q", first)
		}
		if again := whoami(src); again != first {
			t.Fatalf("client %s moved from %s to %s", src, first, again)
		}
		backends[first] = true
	}
	if len(backends) < 2 {
		t.Fatalf("12 clients all reached %v", backends)
	}

	raw, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	conn := tls.Client(raw, &tls.Config{InsecureSkipVerify: true, ServerName: "localhost"})
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	ws, _, err := websocket.Client(conn, "wss://localhost/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, hello, err := ws.ReadMessage(); err != nil || !strings.Contains(string(hello), "hello from backend-") {
		t.Fatalf("hello %q, %v", hello, err)
	}
	if err := ws.WriteMessage(websocket.OpText, []byte("hi tether")); err != nil {
		t.Fatal(err)
	}
	if _, echo, err := ws.ReadMessage(); err != nil || string(echo) != "hi tether" {
		t.Fatalf("echo %q, %v", echo, err)
	}
	ws.Close()

	p.cmd.Process.Signal(syscall.SIGINT)
	if code := p.wait(t); code != 0 {
		t.Fatalf("demo exit code %d", code)
	}
}
