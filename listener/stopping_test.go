package listener

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/tether-proxy/tether/conf"
)

// TestReloadRefusedOnceStopping pins issue 10's fifth defect at the Server: once StopAccepting
// has run (a shutdown or a binary upgrade's drain), Reload is refused and binds nothing, even
// for a configuration that adds a listener.
func TestReloadRefusedOnceStopping(t *testing.T) {
	t.Parallel()
	b := startBackend(t, "echo", "127.0.0.1:0", echo)
	listenerConf := func(name string) string {
		return fmt.Sprintf("[[listeners]]\nname = %q\nlisten = \"127.0.0.1:0\"\nupstream = \"app\"\npreamble = \"none\"\n", name)
	}
	upstreamConf := fmt.Sprintf("[upstreams.app]\nservers = [%q]\n", b.addr())
	p := startProxy(t, listenerConf("first")+upstreamConf)
	p.srv.StopAccepting()

	path := filepath.Join(p.dir, "tether.toml")
	if err := os.WriteFile(path, []byte(listenerConf("first")+listenerConf("second")+upstreamConf), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := conf.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.srv.Reload(context.Background(), cfg); !errors.Is(err, ErrStopping) {
		t.Fatalf("Reload after StopAccepting = %v, want ErrStopping", err)
	}
	if a := p.srv.Addr("second"); a != nil { // port 0: bound would mean a port of its own
		t.Errorf("the refused reload bound %v", a)
	}
}
