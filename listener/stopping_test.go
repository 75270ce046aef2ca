package listener

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/tether-proxy/tether/conf"
)

// TestReloadRefusedOnceStopping pins issue 10's fifth defect at the Server: once StopAccepting
// has run (a shutdown or a binary upgrade's drain), Reload is refused and binds nothing, even
// for a configuration that adds a listener.
func TestReloadRefusedOnceStopping(t *testing.T) {
	t.Parallel()
	b := startBackend(t, "echo", "127.0.0.1:0", echo)
	listenerConf := func(name string, port int) string {
		return fmt.Sprintf("[[listeners]]\nname = %q\nlisten = \"127.0.0.1:%d\"\nupstream = \"app\"\npreamble = \"none\"\n", name, port)
	}
	upstreamConf := fmt.Sprintf("[upstreams.app]\nservers = [%q]\n", b.addr())
	firstPort := freePort(t)
	p := startProxy(t, listenerConf("first", firstPort)+upstreamConf)
	p.srv.StopAccepting()

	secondPort := freePort(t)
	path := filepath.Join(p.dir, "tether.toml")
	if err := os.WriteFile(path, []byte(listenerConf("first", firstPort)+listenerConf("second", secondPort)+upstreamConf), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := conf.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.srv.Reload(context.Background(), cfg); !errors.Is(err, ErrStopping) {
		t.Fatalf("Reload after StopAccepting = %v, want ErrStopping", err)
	}
	if a := p.srv.Addr("second"); a != nil {
		t.Errorf("the refused reload bound %v", a)
	}
	if c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", secondPort), time.Second); err == nil {
		c.Close()
		t.Errorf("the refused reload's listener accepts connections")
	}
}
