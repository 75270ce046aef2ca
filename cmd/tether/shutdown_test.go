package main

import (
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tether-proxy/tether/internal/nginxtest"
	"github.com/tether-proxy/tether/tlsterm"
)

// TestNoReloadWhileDraining pins issue 10's fifth defect: on 5922e7c a certificate change
// during the shutdown drain reloaded the configuration, bound a listener added to the file
// meanwhile and served new clients through the drain. Once the drain begins, neither the
// certificate watcher nor SIGHUP reloads anything, and the new address stays unbound.
func TestNoReloadWhileDraining(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeCert := func(name string) {
		cert, err := tlsterm.SelfSigned(name)
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := tlsterm.WritePEM(dir, cert); err != nil {
			t.Fatal(err)
		}
	}
	writeCert("old.example")
	backends := echoBackends(t, 1)
	ports := nginxtest.FreePorts(t, 2)
	listenerConf := func(name string, port int) string {
		return fmt.Sprintf("[[listeners]]\nname = %q\nlisten = \"127.0.0.1:%d\"\nupstream = \"echo\"\npreamble = \"none\"\n"+
			"  [listeners.tls]\n  cert = \"cert.pem\"\n  key = \"key.pem\"\n", name, port)
	}
	upstreamConf := fmt.Sprintf("[upstreams.echo]\nservers = [%q]\n", backends[0])
	cfg := writeFile(t, dir, "tether.toml", "drain_timeout = \"20s\"\n"+listenerConf("first", ports[0])+upstreamConf)
	p := start(t, "run", "-c", cfg)
	p.waitOutput(t, `"msg":"listening"`)

	tu, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp",
		fmt.Sprintf("127.0.0.1:%d", ports[0]), &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	defer tu.Close()
	if _, err := io.WriteString(tu, "ping"); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(tu, make([]byte, 4)); err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	p.waitOutput(t, `"msg":"shutting down"`)
	writeFile(t, dir, filepath.Base(cfg), "drain_timeout = \"20s\"\n"+listenerConf("first", ports[0])+
		listenerConf("second", ports[1])+upstreamConf)
	writeCert("new.example")
	if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	p.waitOutput(t, "reload refused: shutting down")
	time.Sleep(3 * certPollInterval) // the watcher, were it still running, would have reloaded by now

	if out := p.output(); strings.Contains(out, "configuration reloaded") {
		t.Errorf("the configuration was reloaded during the drain")
	}
	if c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", ports[1]), time.Second); err == nil {
		c.Close()
		t.Errorf("the listener added during the drain accepts connections")
	}
	tu.Close() // the last tunnel ends: the drain completes
	if code := p.wait(t); code != 0 {
		t.Fatalf("exit code %d", code)
	}
}
