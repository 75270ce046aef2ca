//go:build linux

package e2e

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/tether-proxy/tether/internal/websocket"
)

// fault is one way a backend or a client misbehaves (issue 5, item 3), and what tether must
// do about it: the bounded outcome the case checks, with tether's log line giving the reason.
type fault struct {
	name   string
	expect string
	// run provokes the fault and checks the outcome; it returns what it observed and
	// tether's log line about it.
	run func(t *testing.T, s *faultSetup) (observed string, logged logEntry)
}

// faults are all the faults TestFaults tries, in order.
func faults() []fault { return append(backendFaults(), clientFaults()...) }

// faultRow is one line of the table TestFaults prints.
type faultRow struct {
	name, expect, observed, logged, leaks string
	failed                                bool
}

// TestFaults runs every fault against one tether process (race-enabled when the tests are),
// one after the other, and after each waits until tether is back to the goroutines, sockets
// and other fds it had before: nothing leaks. It prints the table of faults and outcomes. It
// does all of it once per engine: the event loop (the default) and goroutines.
func TestFaults(t *testing.T) {
	for _, engine := range []string{"event-loop", "goroutines"} {
		t.Run(engine, func(t *testing.T) { runFaults(t, engine) })
	}
}

func runFaults(t *testing.T, engine string) {
	s := startFaultSetup(t, engine)
	var rows []faultRow
	for _, f := range faults() {
		before, ok := s.tether.settle(t, processSample{Goroutines: 1 << 30, Sockets: 1 << 30, OtherFDs: 1 << 30}, 15*time.Second)
		if !ok {
			t.Fatalf("tether still serves connections before %q: %v", f.name, before)
		}
		row := faultRow{name: f.name, expect: f.expect}
		passed := t.Run(strings.ReplaceAll(f.name, " ", "_"), func(t *testing.T) {
			s.offset = len(s.tether.output())
			observed, logged := f.run(t, s)
			row.observed, row.logged = observed, logged.String()
			after, ok := s.tether.settle(t, before, 15*time.Second)
			row.leaks = fmt.Sprintf("goroutines %d->%d, sockets %d->%d, other fds %d->%d",
				before.Goroutines, after.Goroutines, before.Sockets, after.Sockets, before.OtherFDs, after.OtherFDs)
			if !ok {
				t.Errorf("tether did not return to its state before the fault within 15s:\nbefore: %v\nafter:  %v", before, after)
			}
		})
		row.failed = !passed
		rows = append(rows, row)
	}
	t.Log("faults tried and outcomes:\n" + faultTable(rows))
}

// faultTable formats the rows as an aligned text table.
func faultTable(rows []faultRow) string {
	var b strings.Builder
	w := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "fault\texpected\tobserved\ttether's log\tafter (leak check)\t")
	for _, r := range rows {
		status := ""
		if r.failed {
			status = " [FAILED]"
		}
		fmt.Fprintf(w, "%s%s\t%s\t%s\t%s\t%s\t\n", r.name, status, r.expect, r.observed, r.logged, r.leaks)
	}
	w.Flush()
	return b.String()
}

// faultSetup is tether with one listener per kind of fault, and the backends behind them.
type faultSetup struct {
	tether    *adminTether
	ports     map[string]int // listener name -> port
	roots     *x509.CertPool
	killable  *child // a wspeer echo backend process, killed by a fault
	live      string // a WebSocket echo backend (internal/websocket.EchoHandler), "live"
	flaky     string // faultyBackend
	refusing  string // a bound port without a listener: connects are refused
	blackhole string // a listener whose accept queue is full: connects never complete
	offset    int    // tether's output length when the current fault started
	engine    string // the engine config key
}

// faultListener is one listener of the fault setup's tether.
type faultListener struct {
	name     string
	tls      bool
	upstream func(s *faultSetup) []string
	extra    string // more keys of the [[listeners]] table
}

var faultListeners = []faultListener{
	{"killed", true, func(s *faultSetup) []string { return []string{backendAddr(s.killable)} }, `preamble = "websocket"`},
	{"flaky", true, func(s *faultSetup) []string { return []string{s.flaky} }, "preamble = \"websocket\"\n  [listeners.timeouts]\n  idle = \"1s\""},
	{"refuse-failover", true, func(s *faultSetup) []string { return []string{s.refusing, s.live} }, ""},
	{"refuse-one", false, func(s *faultSetup) []string { return []string{s.refusing} }, ""},
	{"blackhole-failover", true, func(s *faultSetup) []string { return []string{s.blackhole, s.live} }, ""},
	{"blackhole-one", false, func(s *faultSetup) []string { return []string{s.blackhole} }, ""},
	{"idle", true, func(s *faultSetup) []string { return []string{s.live} }, "[listeners.timeouts]\n  idle = \"1s\""},
	{"keepalive", true, func(s *faultSetup) []string { return []string{s.live} }, ""},
	{"slow", true, func(s *faultSetup) []string { return []string{s.live} }, "[listeners.timeouts]\n  handshake = \"2s\"\n  preamble = \"2s\""},
	{"heads", false, func(s *faultSetup) []string { return []string{s.live} }, "max_preamble = 1024"},
	{"proxy", false, func(s *faultSetup) []string { return []string{s.live} }, `proxy_protocol_in = { trusted = ["192.0.2.10/32"] }`},
}

func startFaultSetup(t *testing.T, engine string) *faultSetup {
	t.Helper()
	if _, err := os.Stat("/proc/self/fd"); err != nil {
		t.Skip("counting tether's fds needs /proc:", err)
	}
	dir := t.TempDir()
	roots := x509.NewCertPool()
	pem, err := os.ReadFile(testCert(t, dir))
	if err != nil || !roots.AppendCertsFromPEM(pem) {
		t.Fatalf("test certificate: %v", err)
	}
	s := &faultSetup{roots: roots, ports: make(map[string]int), engine: engine}
	s.live = serveHTTP(t, websocket.EchoHandler("live", nil))
	s.flaky = serveHTTP(t, faultyBackend{})
	s.refusing = refusingAddr(t)
	s.blackhole = blackholeAddr(t)
	s.killable = startWSPeerEcho(t, "killable")
	s.tether = startAdminTether(t, tetherBinary(t), dir, len(faultListeners), func(ports []int, admin int) string {
		return s.config(ports, admin)
	})
	for i, l := range faultListeners {
		s.ports[l.name] = s.tether.ports[i]
	}
	return s
}

// config is the fault setup's tether configuration: short timeouts so that every fault ends
// within seconds (connect 300ms: a blackholed backend fails fast).
func (s *faultSetup) config(ports []int, admin int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "engine = %q\n\n[admin]\nlisten = \"127.0.0.1:%d\"\n\n", s.engine, admin)
	b.WriteString("[timeouts]\nconnect = \"300ms\"\nhandshake = \"5s\"\npreamble = \"5s\"\nidle = \"30s\"\n\n")
	for i, l := range faultListeners {
		fmt.Fprintf(&b, "[[listeners]]\nname = %q\nlisten = \"127.0.0.1:%d\"\nupstream = %q\n", l.name, ports[i], l.name)
		if l.extra != "" {
			fmt.Fprintf(&b, "%s\n", l.extra)
		}
		if l.tls {
			b.WriteString("  [listeners.tls]\n  cert = \"cert.pem\"\n  key = \"key.pem\"\n")
		}
		b.WriteString("\n")
	}
	for _, l := range faultListeners {
		fmt.Fprintf(&b, "[upstreams.%s]\nservers = [", strconv.Quote(l.name))
		for i, addr := range l.upstream(s) {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(strconv.Quote(addr))
		}
		b.WriteString("]\n\n")
	}
	return b.String()
}

// startWSPeerEcho starts a wspeer echo backend process called name.
func startWSPeerEcho(t testing.TB, name string) *child {
	t.Helper()
	bin := wspeerBinary(t)
	c, _ := startOnFreePorts(t, name, 1, func(ports []int) *exec.Cmd {
		return exec.Command(bin, "echo", "-listen", fmt.Sprintf("127.0.0.1:%d", ports[0]), "-name", name)
	}, `"event":"listening"`, func(out string) bool { return strings.Contains(out, `"event":"listening"`) })
	return c
}

// backendAddr is the address a wspeer echo process listens on (from its listening line).
func backendAddr(c *child) string {
	out := c.output()
	i := strings.Index(out, `"addr":"`)
	if i < 0 {
		return ""
	}
	rest := out[i+len(`"addr":"`):]
	return rest[:strings.IndexByte(rest, '"')]
}

// dialTLS connects from src (an address of 127.0.0.0/8) to the listener and completes the TLS
// handshake; every step is bounded.
func (s *faultSetup) dialTLS(t testing.TB, listener, src string) *tls.Conn {
	t.Helper()
	raw := s.dial(t, listener, src)
	tc := tls.Client(raw, &tls.Config{RootCAs: s.roots, ServerName: "127.0.0.1"})
	if err := tc.Handshake(); err != nil {
		t.Fatalf("TLS handshake with listener %s: %v", listener, err)
	}
	return tc
}

// dial connects from src to the listener, with a 10s deadline on everything that follows.
func (s *faultSetup) dial(t testing.TB, listener, src string) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 10 * time.Second}
	c, err := d.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", s.ports[listener]))
	if err != nil {
		t.Fatalf("connect to listener %s: %v", listener, err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(10 * time.Second))
	return c
}

// openWS opens a wss:// WebSocket to path through the listener from src and reads the
// backend's hello; the connection's deadline is cleared.
func (s *faultSetup) openWS(t testing.TB, listener, src, path string) (*websocket.Conn, string) {
	t.Helper()
	tc := s.dialTLS(t, listener, src)
	ws, _, err := websocket.Client(tc, fmt.Sprintf("wss://127.0.0.1:%d%s", s.ports[listener], path), nil)
	if err != nil {
		t.Fatalf("WebSocket handshake through listener %s: %v", listener, err)
	}
	_, hello, err := ws.ReadMessage()
	if err != nil {
		t.Fatalf("backend's hello through listener %s: %v", listener, err)
	}
	tc.SetDeadline(time.Time{})
	return ws, string(hello)
}

// echoOnce sends one message over ws and checks it comes back unchanged.
func echoOnce(t testing.TB, ws *websocket.Conn, msg string) {
	t.Helper()
	ws.NetConn().SetDeadline(time.Now().Add(10 * time.Second))
	defer ws.NetConn().SetDeadline(time.Time{})
	if err := ws.WriteMessage(websocket.OpText, []byte(msg)); err != nil {
		t.Fatalf("send: %v", err)
	}
	if _, got, err := ws.ReadMessage(); err != nil || string(got) != msg {
		t.Fatalf("echo: got %q, %v; want %q", got, err, msg)
	}
}

// isTimeout reports whether err is an expired deadline.
func isTimeout(err error) bool {
	var ne net.Error
	return err != nil && errors.As(err, &ne) && ne.Timeout()
}
