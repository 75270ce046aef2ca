package listener

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"github.com/tether-proxy/tether/conf"
	"github.com/tether-proxy/tether/splice"
	"github.com/tether-proxy/tether/tlsterm"
	"github.com/tether-proxy/tether/upstream"
)

// Options are the parts of a Server that are not in the configuration file.
type Options struct {
	Logger   *slog.Logger      // nil: slog.Default()
	Resolver upstream.Resolver // nil: net.DefaultResolver
	Engine   *splice.Engine    // nil: a new engine with default settings, closed by Shutdown
	// Inherited are listening sockets handed over by a previous process (binary upgrade),
	// by SocketKey. Listen uses them instead of binding; the ones no listener wants are closed.
	Inherited map[string]*os.File
}

// Server serves every listener of one configuration, and of the next one after Reload.
type Server struct {
	log      *slog.Logger
	engine   *splice.Engine
	ownsEng  bool
	resolver upstream.Resolver

	reloadMu  sync.Mutex // one Reload (or Listen) at a time
	mu        sync.Mutex // guards the fields below
	cfg       *conf.Config
	pools     map[string]*upstream.Pool
	lns       []*listener
	terms     map[string]*tlsterm.Terminator // by listener name, kept across reloads
	inherited map[string]*os.File
	serving   bool
	stopping  bool          // StopAccepting ran: nothing is bound, accepted or reloaded any more
	stopped   chan struct{} // closed by Shutdown
	conns     map[*connState]struct{}

	hard  context.Context // cancelled when every connection must end now
	abort context.CancelFunc

	accepting sync.WaitGroup                // accept loops
	handlers  sync.WaitGroup                // served connections (pipeline or tunnel)
	work      chan func()                   // jobs for idle workers (spawn)
	active    atomic.Int64                  // connections being served
	handshake atomic.Pointer[chan struct{}] // TLS handshake slots (max_handshakes)
	maxConns  atomic.Int64                  // process-wide cap on served connections; 0 = none
	shed      shedder                       // fd_reserve and max_memory, checked at accept
	metrics   *metrics.Set
	refusals  refusalLog       // rate-limits the log lines of refused connections
	refusedBy sync.Map         // refusalKey -> *atomic.Uint64: refusals by listener and reason, for Status
	counters  sync.Map         // counterKey -> *metrics.Counter (Server.counter)
	acceptErr *metrics.Counter // accepts that failed (e.g. EMFILE), each followed by a back-off
}

// connState is one served connection, tracked so that a drain can end it.
type connState struct {
	cancel context.CancelCauseFunc
}

// ErrStopping is returned by Reload once the Server has stopped accepting (a shutdown or a
// binary upgrade's drain has begun): a reload then would bind and serve again.
var ErrStopping = errors.New("reload refused: the server is shutting down")

// errDrained is the cause given to a connection's context when the drain deadline ends it.
var errDrained = errors.New("drain deadline")

// New builds a Server for cfg: it resolves every upstream's server names and loads every
// certificate, but binds no socket (see Listen).
func New(ctx context.Context, cfg *conf.Config, opt Options) (*Server, error) {
	s := &Server{
		log:       opt.Logger,
		engine:    opt.Engine,
		resolver:  opt.Resolver,
		terms:     make(map[string]*tlsterm.Terminator),
		inherited: opt.Inherited,
		conns:     make(map[*connState]struct{}),
		work:      make(chan func()),
		metrics:   metrics.NewSet(),
	}
	s.shed.spare, s.shed.fds.dir = -1, -1
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.resolver == nil {
		s.resolver = net.DefaultResolver
	}
	if s.engine == nil {
		mode := splice.ModeEventLoop
		if cfg.Engine == conf.EngineGoroutines {
			mode = splice.ModeGoroutines
		}
		s.engine = splice.NewEngine(splice.EngineConfig{Mode: mode})
		s.ownsEng = true
		if err := s.engine.Prestart(); err != nil {
			s.log.Error("tunnels run on goroutines", "err", err)
		}
	}
	s.hard, s.abort = context.WithCancel(context.Background())
	s.registerServerMetrics()
	p, err := s.prepare(ctx, cfg)
	if err != nil {
		return nil, err
	}
	s.commit(p)
	return s, nil
}

// plan is a configuration made ready to serve: upstreams resolved, certificates loaded, routes
// built. Nothing in it is visible to connections until commit.
type plan struct {
	cfg    *conf.Config
	pools  map[string]*upstream.Pool
	routes []*route // in cfg.Listeners order
	terms  map[string]*tlsterm.Terminator
}

// prepare builds everything cfg needs without touching the running configuration; any error
// leaves the Server as it was.
func (s *Server) prepare(ctx context.Context, cfg *conf.Config) (*plan, error) {
	p := &plan{cfg: cfg, pools: make(map[string]*upstream.Pool), terms: make(map[string]*tlsterm.Terminator)}
	for name, u := range cfg.Upstreams {
		pool, err := upstream.New(ctx, u, s.resolver, s.Pool(name))
		if err != nil {
			return nil, err
		}
		p.pools[name] = pool
	}
	s.mu.Lock()
	oldTerms := s.terms
	s.mu.Unlock()
	for _, lc := range cfg.Listeners {
		rt := &route{
			cfg:    lc,
			pool:   p.pools[lc.Upstream],
			dialer: &upstream.NetDialer{Dialer: net.Dialer{Timeout: lc.Timeouts.Connect, KeepAlive: -1}}, // the tunnel sets backendKeepAlive
			mode:   preambleMode(lc.Preamble),
		}
		rt.metrics = s.newRouteMetrics(lc.Name)
		if rt.pool == nil {
			return nil, fmt.Errorf("listener %s: upstream %q is not defined", lc.Name, lc.Upstream)
		}
		size := lc.MaxPreamble
		rt.bufs.New = func() any { b := make([]byte, size); return &b }
		if lc.TLS != nil {
			gen, err := loadTLS(lc.TLS)
			if err != nil {
				return nil, fmt.Errorf("listener %s: %w", lc.Name, err)
			}
			term := oldTerms[lc.Name]
			if term == nil {
				term = tlsterm.NewTerminator(gen)
			}
			p.terms[lc.Name] = term
			rt.tls = term
			rt.tlsGen = gen
		}
		p.routes = append(p.routes, rt)
	}
	return p, nil
}

// commit makes p the configuration of new connections. Sockets are matched by SocketKey:
// a listener whose address did not change keeps its socket and its queue.
func (s *Server) commit(p *plan) {
	s.mu.Lock()
	defer s.mu.Unlock()
	byKey := make(map[string]*listener, len(s.lns))
	for _, l := range s.lns {
		byKey[l.key] = l
	}
	var lns []*listener
	for _, rt := range p.routes {
		key := SocketKey(rt.cfg)
		l := byKey[key]
		if l == nil {
			l = &listener{srv: s, key: key}
		}
		delete(byKey, key)
		if rt.tls != nil {
			rt.tls.Use(rt.tlsGen)
		}
		l.rt.Store(rt)
		lns = append(lns, l)
	}
	for _, gone := range byKey {
		if gone.ln != nil {
			go func() { // stop accepting (off s.mu: the loops may wait for it); its tunnels go on
				gone.stopLoopAccepting()
				gone.ln.Close()
			}()
		}
	}
	s.lns = lns
	s.cfg = p.cfg
	for name, old := range s.pools {
		if p.pools[name] != old {
			go old.Close() // stops its checks and DNS loops; tunnels and carried-over peers live on
		}
	}
	for _, pool := range p.pools {
		pool.Start(s.hard, s.log) // takes over the previous pool's drains and peers
	}
	s.pools = p.pools
	s.terms = p.terms
	s.maxConns.Store(int64(p.cfg.MaxConns))
	s.shed.configure(p.cfg, s.log)
	if hs := s.handshake.Load(); hs == nil || cap(*hs) != p.cfg.MaxHandshakes {
		slots := make(chan struct{}, max(p.cfg.MaxHandshakes, 1))
		s.handshake.Store(&slots) // handshakes running keep the slots they took from the old one
	}
}

// SocketKey identifies a listening socket: a reload keeps a socket whose key did not change,
// and a binary upgrade hands sockets over by key. A listener on port 0 is keyed by its name
// too, so it keeps the port the kernel gave it across reloads and upgrades.
func SocketKey(l *conf.Listener) string {
	key := "tcp4/" + l.Addr.String()
	if l.Addr.Addr().Is6() {
		key = fmt.Sprintf("tcp6/%s/v6only=%t", l.Addr, l.IPv6Only)
	}
	if l.ReusePort {
		key += "/reuseport"
	}
	if l.Addr.Port() == 0 { // several such listeners are several sockets: tell them by name
		key += "/name=" + l.Name
	}
	return key
}

// Pool returns the live pool of the named upstream, or nil.
func (s *Server) Pool(name string) *upstream.Pool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.pools[name]
}

// Config returns the configuration new connections are served with.
func (s *Server) Config() *conf.Config {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cfg
}

// Listen binds every listener that has no socket yet (or takes it from Options.Inherited).
// On error the sockets bound by this call are closed again.
func (s *Server) Listen(ctx context.Context) error {
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	return s.bindMissing(ctx)
}

func (s *Server) bindMissing(ctx context.Context) error {
	s.mu.Lock()
	lns := s.lns
	s.mu.Unlock()
	var bound []*listener
	for _, l := range lns {
		if l.ln != nil {
			continue
		}
		ln, err := s.takeInherited(l.key)
		l.setKeepAlive = ln != nil
		if err == nil && ln == nil {
			ln, err = listen(ctx, l.rt.Load().cfg)
			l.setKeepAlive = !keepAliveInherited
		}
		if err != nil {
			for _, b := range bound {
				b.ln.Close()
				b.ln = nil
			}
			return err
		}
		s.mu.Lock()
		l.ln = ln
		s.mu.Unlock()
		bound = append(bound, l)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.serving && !s.stopping {
		for _, l := range bound {
			s.startAccepting(l)
		}
	}
	return nil
}

// takeInherited returns the inherited socket for key, if any.
func (s *Server) takeInherited(key string) (net.Listener, error) {
	f := s.inherited[key]
	if f == nil {
		return nil, nil
	}
	delete(s.inherited, key)
	defer f.Close()
	ln, err := net.FileListener(f)
	if err != nil {
		return nil, fmt.Errorf("inherited socket %s: %w", key, err)
	}
	return ln, nil // its accepted conns get keepAlive from acceptLoop (setKeepAlive)
}

// Reload validates and applies cfg: every upstream resolves and every certificate loads
// before anything changes. Listeners whose address is unchanged keep their sockets (nothing
// queued is lost), new ones are bound, removed ones stop accepting; established tunnels are
// never touched. On error the running configuration stays as it was.
func (s *Server) Reload(ctx context.Context, cfg *conf.Config) error {
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	if s.isStopping() {
		return ErrStopping
	}
	p, err := s.prepare(ctx, cfg)
	if err != nil {
		return err
	}
	// Bind the new addresses before switching, so a taken port fails the reload cleanly.
	fresh, err := s.bindNew(ctx, p)
	if err != nil {
		return err
	}
	if s.isStopping() { // StopAccepting ran while the new configuration was prepared
		for _, f := range fresh {
			f.Close()
		}
		return ErrStopping
	}
	s.commit(p)
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, l := range s.lns {
		if ln := fresh[l.key]; ln != nil {
			if s.stopping { // StopAccepting ran during commit: bind nothing new
				ln.Close()
				continue
			}
			l.ln = ln
			if s.serving {
				s.startAccepting(l)
			}
		}
	}
	return nil
}

// bindNew binds the addresses of p that have no socket yet, by SocketKey; on error it closes
// what it bound.
func (s *Server) bindNew(ctx context.Context, p *plan) (map[string]net.Listener, error) {
	s.mu.Lock()
	have := make(map[string]bool, len(s.lns))
	for _, l := range s.lns {
		have[l.key] = l.ln != nil
	}
	s.mu.Unlock()
	fresh := map[string]net.Listener{}
	for _, rt := range p.routes {
		key := SocketKey(rt.cfg)
		if have[key] || fresh[key] != nil {
			continue
		}
		ln, err := listen(ctx, rt.cfg)
		if err != nil {
			for _, f := range fresh {
				f.Close()
			}
			return nil, err
		}
		fresh[key] = ln
	}
	return fresh, nil
}

func (s *Server) isStopping() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stopping
}

// Addr returns the bound address of the named listener, or nil.
func (s *Server) Addr(name string) net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, l := range s.lns {
		if l.rt.Load().cfg.Name == name && l.ln != nil {
			return l.ln.Addr()
		}
	}
	return nil
}

// ListenerFiles returns a duplicate of every listening socket by SocketKey, for handing them
// to a new process (binary upgrade). The caller closes the files.
func (s *Server) ListenerFiles() (map[string]*os.File, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	files := make(map[string]*os.File)
	for _, l := range s.lns {
		tl, ok := l.ln.(*net.TCPListener)
		if !ok {
			continue
		}
		f, err := tl.File()
		if err != nil {
			for _, f := range files {
				f.Close()
			}
			return nil, fmt.Errorf("listener %s: %w", l.key, err)
		}
		files[l.key] = f
	}
	return files, nil
}

// Serve accepts connections on every bound listener, and on listeners a Reload adds, until
// Shutdown. It returns once Shutdown has closed the listeners.
func (s *Server) Serve() {
	s.shed.start()
	defer s.shed.stop()
	s.mu.Lock()
	s.serving = true
	for _, l := range s.lns {
		if l.ln != nil && !s.stopping {
			s.startAccepting(l)
		}
	}
	s.mu.Unlock()
	<-s.hardOrStopped()
	s.accepting.Wait()
}

// hardOrStopped returns the channel Shutdown closes.
func (s *Server) hardOrStopped() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped == nil {
		s.stopped = make(chan struct{})
	}
	return s.stopped
}

func (s *Server) startAccepting(l *listener) {
	if s.acceptOnLoop(l) {
		return
	}
	s.accepting.Add(1)
	go l.acceptLoop(l.ln)
}

// Active returns the number of connections being served (handshaking, reading the head, or tunnelling).
func (s *Server) Active() int64 { return s.active.Load() }

// StopAccepting closes every listening socket: queued and new connections are left to
// whoever else holds the socket (a new process after a binary upgrade) or refused.
// From then on Reload is refused (ErrStopping) and nothing new is bound or accepted.
func (s *Server) StopAccepting() {
	s.mu.Lock()
	s.stopping = true
	var socks []*listener
	for _, l := range s.lns {
		if l.ln != nil {
			socks = append(socks, l)
		}
	}
	s.mu.Unlock()
	for _, l := range socks {
		l.stopLoopAccepting() // outside s.mu: the loops may wait for it meanwhile
		l.ln.Close()
	}
	s.accepting.Wait()
}

// Shutdown stops accepting, then waits for open connections to finish until ctx is done. Then
// it closes the remaining ones spread evenly over the configured drain_spread (logged with
// reason "drain"), so their clients do not all reconnect in the same instant, and waits for
// them to be gone. It returns ctx.Err() when the deadline cut connections.
func (s *Server) Shutdown(ctx context.Context) error {
	s.StopAccepting()
	s.mu.Lock()
	if s.stopped == nil {
		s.stopped = make(chan struct{})
	}
	select {
	case <-s.stopped:
	default:
		close(s.stopped)
	}
	spread := s.cfg.DrainSpread
	s.mu.Unlock()
	done := make(chan struct{})
	go func() { s.handlers.Wait(); close(done) }()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		err = ctx.Err()
		s.closeSpread(spread, done)
		<-done
	}
	s.abort()
	s.mu.Lock()
	pools := s.pools
	s.mu.Unlock()
	for _, pool := range pools {
		pool.Close()
	}
	if s.ownsEng {
		s.engine.Close()
	}
	return err
}

// closeSpread ends the open connections one by one over spread (at once when spread is 0).
func (s *Server) closeSpread(spread time.Duration, done <-chan struct{}) {
	s.mu.Lock()
	open := make([]*connState, 0, len(s.conns))
	for c := range s.conns {
		open = append(open, c)
	}
	s.mu.Unlock()
	s.log.Warn("drain deadline reached, closing the remaining connections", "connections", len(open), "spread", spread)
	var step time.Duration
	if len(open) > 0 {
		step = spread / time.Duration(len(open))
	}
	for i, c := range open {
		if i > 0 && step > 0 {
			select {
			case <-time.After(step):
			case <-done:
				return
			}
		}
		c.cancel(errDrained)
	}
}

// track registers a new connection; the returned context ends when tether ends it.
func (s *Server) track() (context.Context, *connState) {
	ctx, cancel := context.WithCancelCause(s.hard)
	c := &connState{cancel: cancel}
	s.mu.Lock()
	s.conns[c] = struct{}{}
	s.mu.Unlock()
	return ctx, c
}

func (s *Server) untrack(c *connState) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
	c.cancel(nil)
}

// acceptLoop accepts connections until ln is closed. A connection that does not fit
// (fd_reserve, max_memory) is refused at once. When accept itself fails for want of
// descriptors the queued connection is refused with the spare descriptor; on any other error,
// or when that fails too, the loop backs off (5 ms doubling to acceptBackoffMax, as net/http
// does), so a full descriptor table never makes it spin. Failures are logged at most every
// acceptLogEvery.
func (l *listener) acceptLoop(ln net.Listener) {
	s := l.srv
	defer s.accepting.Done()
	var delay time.Duration
	var lastLog time.Time
	failed := 0
	for {
		c, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			s.acceptErr.Inc()
			if isFDShortage(err) && s.shed.refuseQueued(ln) {
				s.shedRefused(l.rt.Load(), nil, upstream.ReasonNoFD, 0, nofileLimit())
				continue
			}
			delay = min(max(2*delay, 5*time.Millisecond), acceptBackoffMax)
			if failed++; time.Since(lastLog) >= acceptLogEvery {
				s.log.Error("accept failed", "listener", l.rt.Load().cfg.Name, "err", err, "retry_in", delay.String(), "failures", failed)
				lastLog, failed = time.Now(), 0
			}
			time.Sleep(delay)
			continue
		}
		delay = 0
		tc := c.(*net.TCPConn)
		if reason, value, limit := s.shed.check(); reason != "" {
			s.shedRefused(l.rt.Load(), tc.RemoteAddr(), reason, value, limit)
			tc.SetLinger(0)
			tc.Close()
			continue
		}
		s.handlers.Add(1)
		s.active.Add(1)
		if l.setKeepAlive {
			tc.SetKeepAliveConfig(keepAlive)
		}
		l.srv.dispatch(l, tc)
	}
}

// acceptBackoffMax bounds the pause after a failed accept: accepting resumes at most this long
// after room is made.
const acceptBackoffMax = 250 * time.Millisecond

// CertificateFiles describes every certificate, key, client-CA and ticket key file of the running
// configuration as it is on disk now; when the text changes, a file changed.
func (s *Server) CertificateFiles() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out string
	for _, l := range s.lns {
		if rt := l.rt.Load(); rt.tlsGen != nil {
			out += rt.tlsGen.Files()
		}
	}
	return out
}
