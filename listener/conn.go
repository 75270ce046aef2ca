package listener

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/tether-proxy/tether/conf"
	"github.com/tether-proxy/tether/preamble"
	"github.com/tether-proxy/tether/proxyproto"
	"github.com/tether-proxy/tether/splice"
	"github.com/tether-proxy/tether/tlsterm"
	"github.com/tether-proxy/tether/upstream"
)

// aLongTimeAgo is a deadline in the past: setting it makes blocked I/O return at once.
var aLongTimeAgo = time.Unix(1, 0)

// serveConn runs the pipeline for one connection accepted by a goroutine and hands the tunnel
// to the engine; the session's finish logs and releases everything when the tunnel ends. On the
// event-loop engine this goroutine ends there: an idle tunnel holds none. (Plain listeners on
// the event loop run the same pipeline without a goroutine: loopwire_linux.go.)
func (l *listener) serveConn(raw *net.TCPConn) {
	c := newSetup(l.newSession(raw), &netWire{raw: raw, conn: raw})
	c.advance()
}

// pipeline is the list of steps that set a connection up, in order, each calling into the
// package that owns it. A step returns nil when it is done, pending when it must wait for a
// socket or its timer (on the event loop), or the refusal that ends the connection.
var pipeline = [...]func(*setup) *refusal{
	(*setup).admit,
	(*setup).proxyIn,
	(*setup).limitPerClient,
	(*setup).terminateTLS,
	(*setup).readHead,
	(*setup).chooseAndDial,
	(*setup).preface,
	(*setup).awaitResponse,
}

// pending is a step's answer when it must wait: the pipeline resumes at that step.
var pending = &refusal{reason: "pending"}

// advance runs the pipeline from the step where it stopped, then starts the tunnel, or ends
// the connection through refuse (whose HTTP answer may wait too). A goroutine's wire never
// waits: one call runs the whole pipeline.
func (c *setup) advance() {
	if c.ending == nil {
		for c.step < len(pipeline) {
			r := pipeline[c.step](c)
			if r == pending {
				return
			}
			if r != nil {
				c.refuse(r)
				break
			}
			c.step++
			c.begun = false
		}
		if c.ending == nil {
			c.startTunnel()
			return
		}
	}
	if c.sendAnswer() != pending {
		c.end()
	}
}

// setup is what the pipeline of one connection holds until the tunnel starts (or the
// connection is refused); a tunnel keeps only its session. Setups are recycled.
type setup struct {
	ss       *session
	w        wire
	step     int  // the pipeline step in progress
	begun    bool // the step in progress has started (set its deadline, borrowed its buffer)
	tlsState *tls.ConnectionState
	ctx      context.Context // ends on a drain, a stop, or the backend's drain deadline

	// proxyIn and readHead
	pbuf   *[]byte // the PROXY header buffer, borrowed while proxyIn peeks
	bufp   *[]byte // the head buffer, borrowed from the route while the head matters
	read   int     // bytes in *pbuf or *bufp
	empty  int     // reads in a row that returned nothing
	head   preamble.Head
	replay []byte // bytes to replay to the backend: the head (rewritten with forwarded_headers)
	ws     bool   // the tunnel may follow WebSocket frames (tracksFrames)

	// chooseAndDial and preface
	walk      upstream.Walk
	walking   bool
	dialing   bool // a connect of the walk is in progress
	dialStart time.Time
	key       []byte
	keyBuf    [64]byte
	hdr       *[]byte // the PROXY header sent to the backend, then the replay
	sent      int

	ending   *refusal // the refusal being answered
	answered int      // bytes of the answer written
	drained  int      // bytes read and dropped by the lingering close
}

// newSetup takes a recycled setup for ss over w.
func newSetup(ss *session, w wire) *setup {
	c := setups.Get().(*setup)
	c.ss, c.w = ss, w
	return c
}

var setups = sync.Pool{New: func() any { return new(setup) }}

// end closes what is left and recycles the setup after a refusal.
func (c *setup) end() {
	r := c.ending
	c.w.close(r.reset && r.answer == nil)
	c.ss.cleanup()
	c.recycle()
}

// recycle returns c to the pool, emptied.
func (c *setup) recycle() {
	c.releaseHead()
	if c.walking {
		c.walk.End()
	}
	head := c.head // its field array need not be cleared: Reset does what matters
	*c = setup{head: head}
	setups.Put(c)
}

// refusal is why a connection is not tunnelled: what to count, log and answer.
type refusal struct {
	reason    string           // tether_connections_refused_total's reason and the log line's
	uncounted bool             // the client left or a drain interrupted: not a refusal, logged at debug
	level     slog.Level       // of the log line
	answer    *preamble.Reject // the HTTP answer, for a client whose request head was read
	reset     bool             // close with a reset: refused before a byte was read
	err       error
	attrs     []any
}

// refuse is the pipeline's one exit: it counts, logs and releases, then leaves the answer (if
// any) to sendAnswer and the close to end.
func (c *setup) refuse(r *refusal) {
	s, ss := c.ss.l.srv, c.ss
	c.ending = r
	c.releaseHead()
	c.w.dropBackend()
	attrs := r.attrs
	if r.err != nil {
		attrs = append(attrs, "err", r.err)
	}
	switch {
	case !r.uncounted:
		s.reject(ss, r.level, r.reason, attrs...)
	case s.log.Enabled(context.Background(), slog.LevelDebug):
		ss.logger().Debug("connection closed", append([]any{"reason", r.reason}, attrs...)...)
	}
	if r.answer != nil {
		c.w.setDeadline(lingerTime)
	}
}

// interrupted is the refusal of a step that a drain or stop interrupted.
func (c *setup) interrupted(err error) *refusal {
	return &refusal{reason: "interrupted by a drain", uncounted: true, err: err}
}

// admit applies the process's and the listener's connection caps, before any work.
func (c *setup) admit() *refusal {
	ss := c.ss
	if reason := ss.l.admit(ss.rt); reason != "" {
		return &refusal{reason: reason, level: slog.LevelWarn, reset: true}
	}
	ss.admitted = true
	ctx, cs := ss.l.srv.track()
	ss.cs, c.ctx = cs, ctx
	c.w.interruptOn(ctx) // until forwarding starts, a drain or stop interrupts the step in progress
	return nil
}

// proxyIn applies a listener's proxy_protocol_in: a trusted peer must send a PROXY header and
// its source address becomes the client; an untrusted peer that sends one is refused; any
// other connection is served as itself. It peeks until the header is whole (or until the
// first bytes show there is none) and then reads exactly the header: the bytes after it stay
// in the socket for the next step.
func (c *setup) proxyIn() *refusal {
	pi := c.ss.rt.cfg.ProxyIn
	if pi == nil {
		return nil
	}
	if !c.begun {
		c.begun = true
		c.pbuf = proxyBufs.Get().(*[]byte)
		c.w.setDeadline(pi.Timeout)
	}
	peer := c.ss.cl.ip.Unmap()
	trusted := trusts(pi, peer)
	err := c.readProxyHeader(trusted)
	if err == errPending {
		return pending
	}
	proxyBufs.Put(c.pbuf)
	c.pbuf, c.read = nil, 0
	if err != nil {
		if c.ctx.Err() != nil {
			return c.interrupted(err)
		}
		switch {
		case err == errUntrustedHeader:
			err = fmt.Errorf("PROXY header from untrusted peer %s", peer)
		case trusted:
			err = fmt.Errorf("trusted peer %s: %w", peer, err)
		default:
			err = fmt.Errorf("untrusted peer %s: %w", peer, err)
		}
		return &refusal{reason: "proxy header", level: slog.LevelInfo, err: err}
	}
	c.w.setDeadline(0)
	return nil
}

// readProxyHeader peeks at the connection's first bytes for proxyIn.
func (c *setup) readProxyHeader(trusted bool) error {
	buf := *c.pbuf
	if !trusted {
		buf = buf[:proxyproto.SignatureLen]
	}
	n, err := c.w.peek(buf, c.read)
	if err != nil {
		return err
	}
	c.read = n
	if !trusted {
		switch has, decided := proxyproto.Signature(buf[:n]); {
		case !decided:
			return errPending
		case has:
			return errUntrustedHeader
		}
		return nil
	}
	size, err := proxyproto.Frame(buf[:n])
	switch {
	case err != nil:
		return err
	case size == 0 && n == len(buf):
		return errors.New("proxy protocol: header too long")
	case size == 0:
		return errPending
	}
	if _, err := io.ReadFull(readerFunc(c.w.read), buf[:size]); err != nil { // peeked: they are there
		return fmt.Errorf("proxy protocol: read header: %w", err)
	}
	h, err := proxyproto.Parse(buf[:size])
	if err != nil || !h.HasClient() {
		return err // PROXY UNKNOWN / v2 LOCAL (health checks): the peer speaks for itself
	}
	cl := &c.ss.cl
	cl.via, cl.addr, cl.local = cl.addr, h.Source, h.Dest
	cl.ip = h.Source.Addr() // a v4 header's address is dotted, whatever the socket, as nginx spells it
	return nil
}

// trusts reports whether proxy_protocol_in trusts peer to send a PROXY header.
func trusts(pi *conf.ProxyIn, peer netip.Addr) bool {
	for _, p := range pi.Trusted {
		if p.Contains(peer) {
			return true
		}
	}
	return false
}

var errUntrustedHeader = errors.New("PROXY header from an untrusted peer")

// readerFunc adapts a read method to io.Reader.
type readerFunc func([]byte) (int, error)

func (f readerFunc) Read(p []byte) (int, error) { return f(p) }

// proxyBufs hold a PROXY header while proxyIn peeks at it.
var proxyBufs = sync.Pool{New: func() any { b := make([]byte, proxyproto.MaxHeaderLen); return &b }}

// limitPerClient applies max_conns_per_client to the client (known after the PROXY header).
func (c *setup) limitPerClient() *refusal {
	ss := c.ss
	max := ss.rt.cfg.MaxConnsPerClient
	if max <= 0 {
		return nil
	}
	if !ss.l.clients.acquire(ss.cl.ip, max) {
		return &refusal{reason: "max_conns_per_client", level: slog.LevelInfo, reset: true, attrs: []any{"max", max}}
	}
	ss.perClient = true
	return nil
}

// terminateTLS runs the TLS handshake on wss listeners (see handshakeTLS).
func (c *setup) terminateTLS() *refusal {
	ss := c.ss
	if ss.rt.tls == nil {
		return nil
	}
	st, reason, err := c.w.handshakeTLS(ss.l.srv, ss.rt)
	if err == errPending {
		return pending
	}
	if err != nil {
		return &refusal{reason: reason, level: slog.LevelInfo, err: err}
	}
	c.tlsState, ss.sni = st, st.ServerName
	return nil
}

// readHead reads the HTTP request head, bounded in size and time, on listeners that read one.
// Everything read is replayed to the backend.
func (c *setup) readHead() *refusal {
	rt := c.ss.rt
	if !rt.readsHead() {
		return nil
	}
	if !c.begun {
		c.begun = true
		c.bufp = rt.bufs.Get().(*[]byte)
		c.head.Reset()
		c.w.setDeadline(rt.cfg.Timeouts.Preamble)
	}
	buf := *c.bufp
	for {
		k, err := c.w.read(buf[c.read:])
		if err == errPending {
			return pending
		}
		if err != nil && c.ctx.Err() != nil {
			return c.interrupted(err)
		}
		c.read += k
		if k == 0 && err == nil {
			if c.empty++; c.empty >= maxEmptyReads {
				return headRefusal(fmt.Errorf("read request head: %w", io.ErrNoProgress))
			}
			continue
		}
		c.empty = 0
		if done, herr := preamble.Step(buf, c.read, k, err, &c.head, rt.mode); done {
			if herr != nil {
				return headRefusal(herr)
			}
			break
		}
	}
	c.w.setDeadline(0)
	c.headRead()
	return nil
}

// maxEmptyReads is how many reads in a row may return nothing before readHead gives up, as
// bufio does.
const maxEmptyReads = 100

// headRead prepares the replay of a head read whole, rewritten with forwarded_headers.
func (c *setup) headRead() {
	rt, n := c.ss.rt, c.read
	c.replay = (*c.bufp)[:n]
	c.ws = tracksFrames(&c.head, n)
	if f := rt.cfg.Forwarded; f != nil {
		cl := &c.ss.cl
		peer := cl.ip
		if cl.via.IsValid() {
			peer = cl.via.Addr()
		}
		rewritten := appendForwarded(make([]byte, 0, n+128), &c.head, f, peer, cl.ip, c.tlsState != nil)
		c.replay = append(rewritten, c.replay[c.head.Len():]...)
	}
}

// headRefusal turns a failed head read into its refusal: a malformed head is answered with
// its HTTP error; a client that left or broke the connection gets no answer and is no refusal.
func headRefusal(err error) *refusal {
	var rej *preamble.Reject
	if errors.As(err, &rej) {
		return &refusal{reason: "bad request head", level: slog.LevelInfo, answer: rej,
			attrs: []any{"status", rej.Status, "err", rej.Reason}}
	}
	reason := "read failed"
	if errors.Is(err, io.EOF) {
		reason = "client closed before request"
	}
	return &refusal{reason: reason, uncounted: true, err: err}
}

// chooseAndDial chooses the backend by hashing the client address exactly as nginx spells
// $remote_addr (an IPv4 client on a dual-stack socket is "::ffff:a.b.c.d"), or the configured
// hash_key when the request has it, then connects to it within the connect timeout, moving on
// to the next peer of the hash when a connect fails (upstream.Walk).
func (c *setup) chooseAndDial() *refusal {
	ss, rt := c.ss, c.ss.rt
	if !c.begun {
		c.begun = true
		c.key = rt.pool.AppendKey(c.keyBuf[:0], ss.cl.ip, ss.cl.ip.Is4In6())
		if rt.cfg.HashKey.Kind != conf.KeyRemoteAddr && rt.readsHead() {
			if k := stickyKey(rt.cfg.HashKey, &c.head); k != nil {
				c.key = k
			}
		}
		rt.pool.StartWalk(&c.walk, c.key)
		c.walking, c.dialStart = true, time.Now()
	}
	for {
		if !c.dialing {
			peer, src := c.walk.Next()
			if peer == nil {
				return c.noBackend(c.walk.Err())
			}
			c.w.setDeadline(rt.cfg.Timeouts.Connect)
			if err := c.w.dial(c.ctx, rt, peer, src); err != nil {
				if r := c.dialFailed(err); r != nil {
					return r
				}
				continue
			}
			c.dialing = true
		}
		ok, err := c.w.connected()
		switch {
		case err == nil && !ok:
			return pending
		case err != nil:
			c.dialing = false
			if r := c.dialFailed(err); r != nil {
				return r
			}
			continue
		}
		c.w.setDeadline(0)
		rt.metrics.connect.UpdateDuration(c.dialStart)
		peer := c.walk.Connected(c.w.backendConn())
		ss.peer = peer
		peer.CancelOnDrain(ss.cs.cancel) // a drain deadline on this backend ends the tunnel
		return nil
	}
}

// dialFailed records a failed connect; it returns the refusal when the walk is over.
func (c *setup) dialFailed(err error) *refusal {
	c.w.dropBackend()
	if c.ctx.Err() != nil {
		return c.noBackend(c.walk.Abandon(err))
	}
	if c.walk.Failed(err, c.ss) {
		return nil
	}
	return c.noBackend(c.walk.Err())
}

// noBackend is the refusal of a connection no backend could be connected for.
func (c *setup) noBackend(err error) *refusal {
	rt := c.ss.rt
	rt.metrics.connect.UpdateDuration(c.dialStart)
	r := &refusal{reason: "no backend", level: slog.LevelWarn, err: err, attrs: []any{"key", string(c.key)}}
	answer := badGateway
	var local *upstream.LocalError
	if errors.As(err, &local) { // tether's own shortage: no backend is blamed or changed
		r.reason, answer = local.Reason, proxyOverloaded
	}
	if rt.readsHead() {
		r.answer = answer
	}
	return r
}

// preface writes the PROXY header (if configured) and the replayed head to the backend, in one
// write, within the connect timeout.
func (c *setup) preface() *refusal {
	ss, rt := c.ss, c.ss.rt
	if !c.begun {
		c.begun = true
		hb, err := c.proxyHeader()
		if err != nil {
			return c.backendFailed("backend write failed", nil, err)
		}
		c.hdr = hb
		c.w.setDeadline(rt.cfg.Timeouts.Connect)
	}
	hdr := *c.hdr
	for total := len(hdr) + len(c.replay); c.sent < total; {
		a, b := hdr, c.replay
		if c.sent < len(a) {
			a = a[c.sent:]
		} else {
			a, b = nil, b[c.sent-len(a):]
		}
		n, err := c.w.writeBackend(a, b)
		c.sent += n
		if err == errPending {
			return pending
		}
		if err != nil {
			return c.backendFailed("backend write failed", nil, err)
		}
	}
	ss.replayed = int64(len(c.replay))
	proxyHeaderBufs.Put(c.hdr)
	c.hdr = nil
	c.releaseHead()
	c.w.setDeadline(0)
	return nil
}

// proxyHeader formats the PROXY header of proxy_protocol (empty without) in a pooled buffer.
func (c *setup) proxyHeader() (*[]byte, error) {
	ss := c.ss
	hb := proxyHeaderBufs.Get().(*[]byte)
	*hb = (*hb)[:0]
	pp := ss.rt.pool.ProxyProtocol
	if pp == conf.ProxyOff {
		return hb, nil
	}
	var info *proxyproto.TLSInfo
	if st := c.tlsState; st != nil {
		info = &proxyproto.TLSInfo{ServerName: st.ServerName, Version: st.Version, ClientVerified: len(st.VerifiedChains) > 0}
	}
	cl := &ss.cl
	if !cl.local.IsValid() {
		cl.local = c.w.localAddr()
	}
	hdr, err := proxyproto.AppendHeader(*hb, pp, net.TCPAddrFromAddrPort(cl.addr), net.TCPAddrFromAddrPort(cl.local), info)
	if err != nil {
		proxyHeaderBufs.Put(hb)
		return nil, err
	}
	*hb = hdr
	return hb, nil
}

// awaitResponse applies the response timeout: the backend must start answering the head in
// time (its first byte, or its close; nothing is read: the tunnel forwards that byte).
func (c *setup) awaitResponse() *refusal {
	rt := c.ss.rt
	wait := rt.cfg.Timeouts.Response
	if wait <= 0 || !rt.readsHead() {
		return nil
	}
	if !c.begun {
		c.begun = true
		c.w.setDeadline(wait)
	}
	ok, err := c.w.backendAnswered()
	switch {
	case err == errPending || (err == nil && !ok):
		return pending
	case err != nil:
		return c.backendFailed("response timeout", gatewayTimeout, err, "timeout", wait.String())
	}
	c.w.setDeadline(0)
	return nil
}

// backendFailed is the refusal of a backend that failed after the connect: held against it
// (max_fails), unless a drain or stop interrupted, which is nobody's fault.
func (c *setup) backendFailed(reason string, answer *preamble.Reject, err error, attrs ...any) *refusal {
	if c.ctx.Err() != nil {
		return c.interrupted(err)
	}
	peer := c.ss.peer
	fails := peer.Fail()
	attrs = append(attrs, "backend", peer.String(), "server", peer.Server.Name, "fails", fails,
		"disabled", peer.Server.MaxFails > 0 && fails >= peer.Server.MaxFails)
	return &refusal{reason: reason, level: slog.LevelWarn, answer: answer, err: err, attrs: attrs}
}

// releaseHead returns the head buffer (or the PROXY header buffers) to their pools.
func (c *setup) releaseHead() {
	if c.pbuf != nil {
		proxyBufs.Put(c.pbuf)
		c.pbuf = nil
	}
	if c.bufp != nil {
		c.ss.rt.bufs.Put(c.bufp)
		c.bufp = nil
	}
	if c.hdr != nil {
		proxyHeaderBufs.Put(c.hdr)
		c.hdr = nil
	}
	c.replay = nil
}

// startTunnel hands both sockets to the engine, which forwards both ways until both sides are
// done, then closes them and calls the session's finish.
func (c *setup) startTunnel() {
	ss, s := c.ss, c.ss.l.srv
	if s.log.Enabled(context.Background(), slog.LevelDebug) {
		ss.logger().Debug("tunnel opened", "sni", ss.sni, "backend", ss.peer.String(), "server", ss.peer.Server.Name)
	}
	w, ctx, ws := c.w, c.ctx, c.ws
	c.recycle()
	w.tunnel(ctx, s.engine, splice.Options{
		Idle:       ss.rt.cfg.Timeouts.Idle,
		HalfClose:  ss.rt.cfg.Timeouts.HalfClose,
		WebSocket:  ws,
		CloseGrace: ss.rt.cfg.Timeouts.CloseGrace,
		CloseWait:  closeWait,

		BackendKeepAlive: &backendKeepAlive,
	}, ss.finish)
}

// closeWait bounds how long a polite WebSocket ending waits for the peers' close frames once
// tether sent its own (RFC 6455 section 7.1.1: the server closes TCP first).
const closeWait = 2 * time.Second

// tracksFrames says whether the tunnel may follow WebSocket frames: the client asked to upgrade
// (RFC 6455 section 4.1: Upgrade: websocket) and sent nothing after its head, so the tunnel's
// first byte from the client is the first byte of a frame. Whether it did upgrade, the backend's
// 101 tells the tunnel.
func tracksFrames(h *preamble.Head, read int) bool {
	return read == h.Len() && h.HasToken("Upgrade", "websocket")
}

// handshakeTLS terminates TLS on raw within the handshake timeout. The connection first waits
// for its ClientHello without holding anything but its socket, then takes one of the
// max_handshakes slots for the handshake proper: connections that never say hello cannot lock
// the ready ones out. On failure it returns the refusal's reason.
func (s *Server) handshakeTLS(rt *route, raw *net.TCPConn) (tc *tls.Conn, reason string, err error) {
	timeout := rt.cfg.Timeouts.Handshake
	if timeout > 0 {
		raw.SetReadDeadline(time.Now().Add(timeout))
	}
	waitStart := time.Now()
	if err := tlsterm.AwaitClientHello(raw); err != nil {
		return nil, "tls handshake", err
	}
	release, err := s.takeHandshakeSlot()
	if err != nil {
		return nil, "max_handshakes", err
	}
	defer release()
	if timeout > 0 {
		timeout = max(timeout-time.Since(waitStart), time.Millisecond)
	}
	tc = splice.TLSServer(raw, rt.tls.Config())
	hsStart := time.Now()
	err = tlsterm.Handshake(tc, timeout)
	rt.metrics.handshake.UpdateDuration(hsStart)
	if err != nil {
		return nil, "tls handshake", err
	}
	return tc, "", nil
}

// takeHandshakeSlot takes one of max_handshakes' slots, or says there is none; release gives
// it back.
func (s *Server) takeHandshakeSlot() (release func(), err error) {
	slots := *s.handshake.Load()
	select {
	case slots <- struct{}{}:
		return func() { <-slots }, nil
	default:
		return nil, errors.New("too many TLS handshakes in progress")
	}
}

// client is who a connection is from: the socket's peer, or what a trusted PROXY header says.
type client struct {
	addr  netip.AddrPort // the client
	local netip.AddrPort // the address it connected to: read when needed (the PROXY header out)
	ip    netip.Addr     // addr's IP, spelled as the socket family has it (4-in-6 on dual-stack)
	via   netip.AddrPort // the load balancer that sent a PROXY header, or invalid
}

// proxyHeaderBufs hold the PROXY header sent to a backend while sendPreface writes it, so the
// per-connection header costs no allocation.
var proxyHeaderBufs = sync.Pool{New: func() any { b := make([]byte, 0, 2*proxyproto.MaxV1Len); return &b }}

// badGateway answers a parsed request when no backend could be reached, gatewayTimeout one that
// the backend did not start answering within the response timeout, proxyOverloaded one that
// tether could not dial for want of its own resources (file descriptors, memory, local ports).
var (
	badGateway      = &preamble.Reject{Status: 502, Reason: "no backend available"}
	gatewayTimeout  = &preamble.Reject{Status: 504, Reason: "backend response timeout"}
	proxyOverloaded = &preamble.Reject{Status: 503, Reason: "proxy out of resources"}
)

// Bounds on the lingering close after a refusal (nginx's lingering_close does the same): keep
// reading what the client still sends for a moment, so the kernel does not answer it with a
// reset that could destroy the response before the client reads it.
const (
	lingerTime  = time.Second
	lingerBytes = 64 << 10
)

// sendAnswer writes a refusal's HTTP answer, if it has one, then closes the client's write
// half and reads what the client still sends for a moment (a lingering close), within
// lingerTime (set by refuse) and lingerBytes.
func (c *setup) sendAnswer() *refusal {
	rej := c.ending.answer
	if rej == nil {
		return nil
	}
	resp := rej.Response()
	for c.answered < len(resp) {
		n, err := c.w.write(resp[c.answered:])
		c.answered += n
		if err == errPending {
			return pending
		}
		if err != nil {
			return nil
		}
		if c.answered == len(resp) {
			c.w.closeWrite()
			c.w.setDeadline(lingerTime)
		}
	}
	var scratch [4096]byte
	for c.drained < lingerBytes {
		n, err := c.w.read(scratch[:min(len(scratch), lingerBytes-c.drained)])
		c.drained += n
		if err == errPending {
			return pending
		}
		if err != nil {
			return nil
		}
	}
	return nil
}

// closeReason names why a tunnel ended for the access log.
func closeReason(res splice.Result) string {
	if res.Reason == splice.Aborted && errors.Is(res.Err, errDrained) {
		return "drain"
	}
	if res.Reason == splice.Aborted && errors.Is(res.Err, upstream.ErrDrained) {
		return "backend drained"
	}
	return res.Reason.String()
}
