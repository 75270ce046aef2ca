package tlsterm

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"time"
)

// Settings are one listener's TLS settings as configured.
type Settings struct {
	Certs      []Pair             // chosen by SNI; the first is the default
	ClientCA   string             // PEM bundle of CAs for client certificates; "" asks for none
	ClientAuth tls.ClientAuthType // with ClientCA: tls.RequireAndVerifyClientCert or tls.VerifyClientCertIfGiven
	// TicketKeys are session-ticket key files (see ReadTicketKeys): the first encrypts new
	// tickets, all decrypt. None: the Terminator's own per-process keys, rotated by Go.
	TicketKeys []string
	// Groups are the key-exchange groups offered (see GroupName); none means Go's defaults,
	// X25519MLKEM768 first. crypto/tls takes them as a set: it prefers post-quantum hybrids
	// whatever the order.
	Groups []string
}

// Generation is one loaded, immutable set of Settings: the certificates, the client CAs and
// the tls.Config that uses them, plus what the files looked like when they were read.
type Generation struct {
	settings Settings
	store    Store
	cfg      *tls.Config
	stamps   []stamp
}

// stamp is what a file looked like when it was loaded.
type stamp struct {
	path  string
	mtime time.Time
	size  int64
}

// Load reads every file of s and builds a Generation. Nothing is installed anywhere: a reload
// loads every listener's generation first and installs them only when all loaded.
func Load(s Settings) (*Generation, error) {
	g := &Generation{settings: s}
	for _, p := range s.Certs {
		g.stamps = append(g.stamps, stampOf(p.Cert), stampOf(p.Key))
	}
	if err := g.store.LoadFiles(s.Certs); err != nil {
		return nil, err
	}
	g.cfg = ServerConfig(&g.store)
	ids, err := curveIDs(s.Groups)
	if err != nil {
		return nil, err
	}
	g.cfg.CurvePreferences = ids
	if len(s.TicketKeys) > 0 {
		for _, path := range s.TicketKeys {
			g.stamps = append(g.stamps, stampOf(path))
		}
		keys, err := ReadTicketKeys(s.TicketKeys)
		if err != nil {
			return nil, err
		}
		g.cfg.SetSessionTicketKeys(keys)
		clear(keys)
	}
	if s.ClientCA != "" {
		g.stamps = append(g.stamps, stampOf(s.ClientCA))
		pem, err := os.ReadFile(s.ClientCA)
		if err != nil {
			return nil, fmt.Errorf("tls: client CA: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("tls: client CA %s: no PEM certificate found", s.ClientCA)
		}
		g.cfg.ClientCAs = pool
		g.cfg.ClientAuth = s.ClientAuth
		if g.cfg.ClientAuth == tls.NoClientCert {
			g.cfg.ClientAuth = tls.RequireAndVerifyClientCert
		}
	}
	return g, nil
}

func stampOf(path string) stamp {
	st := stamp{path: path}
	if fi, err := os.Stat(path); err == nil {
		st.mtime, st.size = fi.ModTime(), fi.Size()
	}
	return st
}

// Settings returns the settings g was loaded from.
func (g *Generation) Settings() Settings { return g.settings }

// Files describes g's files as they are on disk now (path, size, modification time), so a
// caller can notice that one changed.
func (g *Generation) Files() string {
	var b []byte
	for _, st := range g.stamps {
		now := stampOf(st.path)
		b = fmt.Appendf(b, "%s %d %d\n", now.path, now.size, now.mtime.UnixNano())
	}
	return string(b)
}

// Terminator is one listener's TLS termination for its whole life. Its tls.Config stays the
// same across reloads, so the session-ticket keys (which Go keeps and rotates in that Config)
// survive them and resumption keeps working; each handshake takes its certificates, client
// auth and configured ticket keys from the current Generation through GetConfigForClient
// (crypto/tls uses a returned Config's keys when it has some set, else the lasting Config's).
type Terminator struct {
	base *tls.Config
	cur  atomic.Pointer[Generation]
}

// NewTerminator returns a Terminator serving g.
func NewTerminator(g *Generation) *Terminator {
	t := &Terminator{}
	t.cur.Store(g)
	base := ServerConfig(&g.store) // settings only matter until GetConfigForClient answers
	base.GetConfigForClient = t.configForClient
	t.base = base
	return t
}

func (t *Terminator) configForClient(*tls.ClientHelloInfo) (*tls.Config, error) {
	g := t.cur.Load()
	if g == nil {
		return nil, errors.New("tls: no certificates loaded")
	}
	return g.cfg, nil
}

// Use makes g the generation for new handshakes. Handshakes already running are unaffected.
func (t *Terminator) Use(g *Generation) { t.cur.Store(g) }

// Config returns the listener's tls.Config, for tls.Server.
func (t *Terminator) Config() *tls.Config { return t.base }
