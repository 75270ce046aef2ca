package listener

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tether-proxy/tether/conf"
	"github.com/tether-proxy/tether/preamble"
	"github.com/tether-proxy/tether/splice"
	"github.com/tether-proxy/tether/tlsterm"
	"github.com/tether-proxy/tether/upstream"
)

// Options are the parts of a Server that are not in the configuration file.
type Options struct {
	Logger   *slog.Logger      // nil: slog.Default()
	Resolver upstream.Resolver // nil: net.DefaultResolver
	Engine   *splice.Engine    // nil: a new engine with default settings, closed by Shutdown
}

// Server serves every listener of one configuration.
type Server struct {
	log     *slog.Logger
	engine  *splice.Engine
	ownsEng bool
	cfg     *conf.Config
	pools   map[string]*upstream.Pool
	lns     []*listener

	hard  context.Context // cancelled when the drain deadline passes: every tunnel is torn down
	abort context.CancelFunc

	accepting sync.WaitGroup // accept loops
	conns     sync.WaitGroup // connection goroutines
	active    atomic.Int64   // connections being served
}

// listener is one bound socket and how its connections are served.
type listener struct {
	srv *Server
	ln  net.Listener
	rt  atomic.Pointer[route] // swapped whole on reload; each connection loads it once
}

// route is everything a connection of one listener needs, fixed for that connection's life.
type route struct {
	cfg    *conf.Listener
	pool   *upstream.Pool
	tls    *tls.Config   // nil: plain listener
	mode   preamble.Mode // 0: preamble "none", nothing is read before choosing the backend
	dialer *net.Dialer
	bufs   sync.Pool // *[]byte of cfg.MaxPreamble bytes, held only while the head is read
}

// New builds a Server for cfg: it resolves every upstream's server names and loads every
// certificate, but binds no socket (see Listen).
func New(ctx context.Context, cfg *conf.Config, opt Options) (*Server, error) {
	s := &Server{log: opt.Logger, engine: opt.Engine, cfg: cfg, pools: make(map[string]*upstream.Pool)}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.engine == nil {
		s.engine = splice.NewEngine(splice.EngineConfig{})
		s.ownsEng = true
	}
	resolver := opt.Resolver
	if resolver == nil {
		resolver = net.DefaultResolver
	}
	for name, u := range cfg.Upstreams {
		p, err := upstream.New(ctx, u, resolver)
		if err != nil {
			return nil, err
		}
		s.pools[name] = p
	}
	for _, lc := range cfg.Listeners {
		rt, err := s.newRoute(lc)
		if err != nil {
			return nil, err
		}
		l := &listener{srv: s}
		l.rt.Store(rt)
		s.lns = append(s.lns, l)
	}
	s.hard, s.abort = context.WithCancel(context.Background())
	return s, nil
}

func (s *Server) newRoute(lc *conf.Listener) (*route, error) {
	rt := &route{
		cfg:    lc,
		pool:   s.pools[lc.Upstream],
		dialer: &net.Dialer{Timeout: lc.Timeouts.Connect, KeepAliveConfig: keepAlive},
	}
	if rt.pool == nil {
		return nil, fmt.Errorf("listener %s: upstream %q is not defined", lc.Name, lc.Upstream)
	}
	switch lc.Preamble {
	case conf.PreambleHTTP:
		rt.mode = preamble.ModeHTTP
	case conf.PreambleWebSocket:
		rt.mode = preamble.ModeWebSocket
	}
	size := lc.MaxPreamble
	rt.bufs.New = func() any { b := make([]byte, size); return &b }
	if lc.TLS != nil {
		store := new(tlsterm.Store)
		if err := store.LoadFiles([]tlsterm.Pair{{Cert: lc.TLS.Cert, Key: lc.TLS.Key}}); err != nil {
			return nil, fmt.Errorf("listener %s: %w", lc.Name, err)
		}
		rt.tls = tlsterm.ServerConfig(store)
	}
	return rt, nil
}

// Pool returns the live pool of the named upstream, or nil.
func (s *Server) Pool(name string) *upstream.Pool { return s.pools[name] }

// Listen binds every listener's socket. On error nothing stays bound.
func (s *Server) Listen(ctx context.Context) error {
	for i, l := range s.lns {
		ln, err := listen(ctx, l.rt.Load().cfg)
		if err != nil {
			for _, prev := range s.lns[:i] {
				prev.ln.Close()
			}
			return err
		}
		l.ln = ln
	}
	return nil
}

// Addr returns the bound address of the named listener, or nil before Listen.
func (s *Server) Addr(name string) net.Addr {
	for _, l := range s.lns {
		if l.rt.Load().cfg.Name == name && l.ln != nil {
			return l.ln.Addr()
		}
	}
	return nil
}

// Serve accepts connections on every bound listener until Shutdown. It returns after all
// accept loops have stopped (connections may still be draining).
func (s *Server) Serve() {
	for _, l := range s.lns {
		s.accepting.Add(1)
		go l.acceptLoop()
	}
	s.accepting.Wait()
}

// Active returns the number of connections being served (handshaking, reading the head, or tunnelling).
func (s *Server) Active() int64 { return s.active.Load() }

// Shutdown stops accepting, then waits for open connections to finish until ctx is done; at that
// point every remaining tunnel is torn down (logged with reason "aborted") and Shutdown waits for
// them to be gone. It returns ctx.Err() when the drain deadline cut tunnels.
func (s *Server) Shutdown(ctx context.Context) error {
	for _, l := range s.lns {
		if l.ln != nil {
			l.ln.Close()
		}
	}
	s.accepting.Wait()
	done := make(chan struct{})
	go func() { s.conns.Wait(); close(done) }()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		err = ctx.Err()
		s.log.Warn("drain deadline reached, closing remaining connections", "connections", s.active.Load())
		s.abort()
		<-done
	}
	s.abort()
	if s.ownsEng {
		s.engine.Close()
	}
	return err
}

// acceptLoop accepts connections until the listener is closed, backing off on errors such as
// EMFILE the way net/http does, so a full fd table slows tether down instead of spinning.
func (l *listener) acceptLoop() {
	defer l.srv.accepting.Done()
	var delay time.Duration
	for {
		c, err := l.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			l.srv.log.Error("accept failed", "listener", l.rt.Load().cfg.Name, "err", err, "retry_in", delay)
			time.Sleep(delay)
			continue
		}
		delay = 0
		l.srv.conns.Add(1)
		l.srv.active.Add(1)
		go l.serveConn(c.(*net.TCPConn))
	}
}
