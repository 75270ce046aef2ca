package main

import (
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"sync"
	"time"

	"github.com/tether-proxy/tether/conf"
	"github.com/tether-proxy/tether/internal/systemd"
	"github.com/tether-proxy/tether/listener"
)

// activatedSockets adds the listening sockets systemd passed (socket activation) to inherited,
// keyed like a binary upgrade's: each goes to the listener (or the admin listener) configured
// with the address it is bound to. Malformed LISTEN_* variables, descriptors that are not
// listening TCP sockets and sockets that match no listener are logged and closed; tether then
// binds what is missing itself (and fails with a clear error where systemd holds the address).
func activatedSockets(cfg *conf.Config, log *slog.Logger, inherited map[string]*os.File) map[string]*os.File {
	env := systemd.TakeListenEnv()
	if !env.Set() {
		return inherited
	}
	socks, err := env.Sockets()
	if err != nil {
		log.Error("socket activation: ignoring what systemd passed that is not usable; binding the rest myself", "err", err)
	}
	if inherited == nil {
		inherited = make(map[string]*os.File)
	}
	for _, s := range socks {
		key, what := socketKeyFor(cfg, s)
		if key == "" {
			log.Error("socket activation: a socket from systemd matches no listener's address; closed",
				"name", s.Name, "addr", s.Addr.String())
			s.File.Close()
			continue
		}
		if old := inherited[key]; old != nil {
			old.Close()
		}
		inherited[key] = s.File
		log.Info("socket activation: listening on the socket from systemd", "listener", what, "name", s.Name, "addr", s.Addr.String())
	}
	return inherited
}

// socketKeyFor returns the inherited-socket key and name of the listener configured with s's
// address ("" when none is).
func socketKeyFor(cfg *conf.Config, s systemd.Socket) (key, name string) {
	addr := netip.AddrPortFrom(s.Addr.Addr().Unmap(), s.Addr.Port())
	for _, l := range cfg.Listeners {
		if l.Addr.Port() != 0 && l.Addr.Addr().WithZone("") == addr.Addr() && l.Addr.Port() == addr.Port() {
			return listener.SocketKey(l), l.Name
		}
	}
	if a := cfg.Admin; a != nil && a.Addr.Port() != 0 && a.Addr.Addr().WithZone("") == addr.Addr() && a.Addr.Port() == addr.Port() {
		return adminSocketKey, "admin"
	}
	return "", ""
}

// sdStatus is the STATUS= line systemctl status shows.
func (d *daemon) sdStatus(what string) string {
	return fmt.Sprintf("STATUS=%s; listeners %d, connections open %d", what, len(d.srv.Config().Listeners), d.srv.Active())
}

// startNotifying runs keepNotifying until the returned function is called (any number of times).
func (d *daemon) startNotifying() (stop func()) {
	done := make(chan struct{})
	var once sync.Once
	go d.keepNotifying(done)
	return func() { once.Do(func() { close(done) }) }
}

// keepNotifying sends WATCHDOG=1 every half $WATCHDOG_USEC (when systemd asks for it) and the
// STATUS line when the connection count changed, until stop is closed.
func (d *daemon) keepNotifying(stop <-chan struct{}) {
	if d.notify == nil {
		return
	}
	every, err := systemd.Watchdog()
	if err != nil {
		d.log.Error("systemd watchdog: not pinging", "err", err)
	}
	watchdog := every > 0
	if !watchdog {
		every = statusInterval
	}
	tick := time.NewTicker(every)
	defer tick.Stop()
	last := d.sdStatus("serving")
	for {
		select {
		case <-stop:
			return
		case <-tick.C:
		}
		msg, status := "", d.sdStatus("serving")
		if watchdog {
			msg = "WATCHDOG=1"
		}
		if status != last {
			msg, last = join(msg, status), status
		}
		if msg != "" {
			d.notify.Send(msg)
		}
	}
}

// statusInterval is how often the STATUS line is refreshed without a watchdog.
var statusInterval = 10 * time.Second

// join joins notification lines.
func join(a, b string) string {
	if a == "" {
		return b
	}
	return a + "\n" + b
}
