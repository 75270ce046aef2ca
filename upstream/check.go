package upstream

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"syscall"
	"time"

	"github.com/tether-proxy/tether/conf"
)

// checker runs one active check of one peer: a TCP connect or an HTTP GET.
type checker struct {
	cfg    *conf.HealthCheck
	dialer NetDialer
	src    sources // the upstream's source addresses: checks come from where tunnels come from
	hello  []byte  // PROXY header sent first on HTTP checks, when the upstream expects one
	tr     *http.Transport
	client *http.Client
}

// Health-check PROXY headers (HAProxy proxy-protocol.txt): v1 section 2.1 "PROXY UNKNOWN"
// and v2 section 2.2 command LOCAL, both meant for connections the proxy makes on its own,
// such as health checks; the receiver uses the connection's real addresses.
var (
	checkProxyV1 = []byte("PROXY UNKNOWN\r\n")
	checkProxyV2 = []byte("\r\n\r\n\x00\r\nQUIT\n\x20\x00\x00\x00")
)

// userAgent is sent with HTTP checks.
const userAgent = "tether-health-check"

func newChecker(cfg *conf.HealthCheck, upstream string, pp conf.ProxyProtocol, src sources) *checker {
	c := &checker{cfg: cfg, dialer: NetDialer{net.Dialer{Timeout: cfg.Timeout}}, src: src}
	switch pp {
	case conf.ProxyV1:
		c.hello = checkProxyV1
	case conf.ProxyV2:
		c.hello = checkProxyV2
	}
	if cfg.Type == conf.CheckHTTP {
		c.tr = &http.Transport{
			DialContext:            c.dial,
			DisableKeepAlives:      true,
			DisableCompression:     true,
			ResponseHeaderTimeout:  cfg.Timeout,
			MaxResponseHeaderBytes: 16 << 10,
		}
		c.client = &http.Client{
			Transport:     c.tr,
			Timeout:       cfg.Timeout,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
	return c
}

// connect dials a peer's address, from the upstream's source addresses of its family when it
// has some (the first, or the next when one has no local port left), so that a backend that
// admits only the sources passes its checks.
func (c *checker) connect(ctx context.Context, addr string) (net.Conn, error) {
	ap, err := netip.ParseAddrPort(addr)
	if err != nil || len(c.src[sourceFamily(ap.Addr())]) == 0 {
		return c.dialer.DialContext(ctx, "tcp", addr)
	}
	for _, src := range c.src[sourceFamily(ap.Addr())] {
		var conn net.Conn
		if conn, err = c.dialer.DialFrom(ctx, src, addr); !errors.Is(err, syscall.EADDRNOTAVAIL) {
			return conn, err
		}
	}
	return nil, err
}

// dial connects to a peer and sends the PROXY header, if any.
func (c *checker) dial(ctx context.Context, _, addr string) (net.Conn, error) {
	conn, err := c.connect(ctx, addr)
	if err != nil || len(c.hello) == 0 {
		return conn, err
	}
	conn.SetWriteDeadline(time.Now().Add(c.cfg.Timeout))
	if _, err := conn.Write(c.hello); err != nil {
		conn.Close()
		return nil, err
	}
	conn.SetWriteDeadline(time.Time{})
	return conn, nil
}

// probe checks peer once; nil means it passed.
func (c *checker) probe(ctx context.Context, peer *Peer) error {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	if c.cfg.Type != conf.CheckHTTP {
		conn, err := c.connect(ctx, peer.addr)
		if err != nil {
			return err
		}
		return conn.Close()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+peer.addr+c.cfg.Path, nil)
	if err != nil {
		return err
	}
	req.Host = c.cfg.Host
	if req.Host == "" {
		req.Host = peer.Server.Name
	}
	req.Header.Set("User-Agent", userAgent)
	resp, err := c.client.Do(req)
	if err != nil {
		return err
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if !c.cfg.Expects(resp.StatusCode) {
		return fmt.Errorf("HTTP status %d", resp.StatusCode)
	}
	return nil
}

func (c *checker) close() {
	if c.tr != nil {
		c.tr.CloseIdleConnections()
	}
}

// checkLoop checks every peer (except `down` ones) every interval, all peers of one round
// concurrently, the first round at once.
func (p *Pool) checkLoop(ctx context.Context) {
	t := time.NewTicker(p.cfg.HealthCheck.Interval)
	defer t.Stop()
	for {
		var wg sync.WaitGroup
		for _, peer := range p.view.Load().peers {
			if peer.Server.Down {
				continue
			}
			wg.Go(func() {
				if err := p.checker.probe(ctx, peer); ctx.Err() == nil {
					p.checked(peer, err)
				}
			})
		}
		wg.Wait()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// checked applies one check's outcome to peer, unless the check failed for want of tether's
// own resources (descriptors, socket memory, local ports): that says nothing about the backend
// (issue 10, item 2), so it is logged and left out of the rise and fall counts.
func (p *Pool) checked(peer *Peer, err error) {
	if le := asLocal(err); le != nil {
		p.logger().Warn("health check not run", "backend", peer.addr, "server", peer.Server.Name, "reason", le.Reason, "err", err)
		return
	}
	p.record(peer, err)
}

// record applies one check result to peer: fall consecutive failures make a healthy peer
// unhealthy, rise consecutive passes make an unhealthy one healthy again (HAProxy's rise and
// fall). Only the pool that owns the peer records.
func (p *Pool) record(peer *Peer, err error) {
	if peer.owner.Load() != p {
		return
	}
	hc := &p.cfg.HealthCheck
	peer.mu.Lock()
	st := &peer.check
	st.last = time.Now()
	if err == nil {
		st.okRun, st.failRun, st.lastErr = st.okRun+1, 0, ""
	} else {
		st.okRun, st.failRun, st.lastErr = 0, st.failRun+1, err.Error()
	}
	ok, fail := st.okRun, st.failRun
	peer.mu.Unlock()
	switch {
	case err != nil && fail >= hc.Fall && !peer.unhealthy.Swap(true):
		p.logger().Warn("backend unhealthy", "backend", peer.addr, "server", peer.Server.Name,
			"reason", err.Error(), "failed_checks", fail, "check", string(hc.Type))
	case err == nil && ok >= hc.Rise && peer.unhealthy.Swap(false):
		p.logger().Info("backend healthy", "backend", peer.addr, "server", peer.Server.Name,
			"reason", "passed checks", "passed_checks", ok, "check", string(hc.Type))
	}
}
