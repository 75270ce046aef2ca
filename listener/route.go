package listener

import (
	"crypto/tls"
	"net"
	"sync"
	"sync/atomic"

	"github.com/tether-proxy/tether/conf"
	"github.com/tether-proxy/tether/preamble"
	"github.com/tether-proxy/tether/tlsterm"
	"github.com/tether-proxy/tether/upstream"
)

// listener is one listening socket and how its connections are served. A reload that keeps
// the address keeps the listener (and its socket) and swaps its route.
type listener struct {
	srv     *Server
	key     string       // SocketKey
	ln      net.Listener // nil until bound
	rt      atomic.Pointer[route]
	active  atomic.Int64 // connections of this listener being served (its max_conns)
	clients clientCounts // open connections per client address (max_conns_per_client)

	setKeepAlive bool // accepted conns need keepAlive set (they do not inherit it from ln)

	loop loopAccepting // the event loops' accepting on ln, when they do (plain listeners)
}

// route is everything a connection of one listener needs, fixed for that connection's life:
// each connection loads it once at accept, so a reload changes only later connections.
type route struct {
	cfg     *conf.Listener
	pool    *upstream.Pool
	tls     *tlsterm.Terminator // nil: plain listener; kept across reloads by listener name
	tlsGen  *tlsterm.Generation // the certificates this configuration loaded
	mode    preamble.Mode       // 0: preamble "none", nothing is read before choosing the backend
	dialer  *upstream.NetDialer
	bufs    sync.Pool // *[]byte of cfg.MaxPreamble bytes, held only while the head is read
	metrics routeMetrics
}

// readsHead reports whether the listener reads an HTTP request head before choosing the backend
// (preamble "http" or "websocket").
func (rt *route) readsHead() bool { return rt.mode != 0 }

func preambleMode(m conf.PreambleMode) preamble.Mode {
	switch m {
	case conf.PreambleHTTP:
		return preamble.ModeHTTP
	case conf.PreambleWebSocket:
		return preamble.ModeWebSocket
	}
	return 0
}

// loadTLS loads a listener's certificates and client CAs.
func loadTLS(c *conf.TLS) (*tlsterm.Generation, error) {
	s := tlsterm.Settings{ClientCA: c.ClientCA, TicketKeys: c.TicketKeys, Groups: c.Curves}
	for _, ck := range c.Certs {
		s.Certs = append(s.Certs, tlsterm.Pair{Cert: ck.Cert, Key: ck.Key})
	}
	switch c.ClientAuth {
	case conf.ClientAuthRequire:
		s.ClientAuth = tls.RequireAndVerifyClientCert
	case conf.ClientAuthOptional:
		s.ClientAuth = tls.VerifyClientCertIfGiven
	}
	return tlsterm.Load(s)
}
