package tlsterm

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
)

// Pair names one certificate chain and its private key on disk (PEM).
type Pair struct {
	Cert string // path of the PEM certificate chain, leaf first
	Key  string // path of the PEM private key
}

// Store holds the certificates of one listener and chooses one per handshake by the client's
// SNI. The first certificate loaded is the default, used when SNI is absent or matches none.
// A Store is safe for concurrent use; the zero value holds no certificate.
type Store struct {
	set atomic.Pointer[certSet]
}

// certSet is one immutable generation of a Store's certificates.
type certSet struct {
	exact    map[string]*tls.Certificate // lower-case DNS name or IP text -> certificate
	wildcard map[string]*tls.Certificate // "example.com" for "*.example.com"
	fallback *tls.Certificate
}

// LoadFiles reads every pair from disk and, only if all of them load, replaces the Store's
// certificates. On error the previous certificates stay in use.
func (s *Store) LoadFiles(pairs []Pair) error {
	if len(pairs) == 0 {
		return errors.New("tls: no certificate configured")
	}
	certs := make([]tls.Certificate, 0, len(pairs))
	for _, p := range pairs {
		c, err := tls.LoadX509KeyPair(p.Cert, p.Key)
		if err != nil {
			return fmt.Errorf("tls: load certificate %s with key %s: %w", p.Cert, p.Key, err)
		}
		certs = append(certs, c)
	}
	return s.Set(certs)
}

// Set replaces the Store's certificates with certs; certs[0] becomes the default.
func (s *Store) Set(certs []tls.Certificate) error {
	if len(certs) == 0 {
		return errors.New("tls: no certificate given")
	}
	cs := &certSet{
		exact:    make(map[string]*tls.Certificate),
		wildcard: make(map[string]*tls.Certificate),
	}
	for i := range certs {
		c := &certs[i]
		if c.Leaf == nil {
			leaf, err := x509.ParseCertificate(c.Certificate[0])
			if err != nil {
				return fmt.Errorf("tls: parse certificate %d: %w", i, err)
			}
			c.Leaf = leaf
		}
		if cs.fallback == nil {
			cs.fallback = c
		}
		for _, name := range c.Leaf.DNSNames {
			name = strings.ToLower(name)
			if rest, ok := strings.CutPrefix(name, "*."); ok {
				if _, dup := cs.wildcard[rest]; !dup {
					cs.wildcard[rest] = c
				}
				continue
			}
			if _, dup := cs.exact[name]; !dup {
				cs.exact[name] = c
			}
		}
		for _, ip := range c.Leaf.IPAddresses {
			if _, dup := cs.exact[ip.String()]; !dup {
				cs.exact[ip.String()] = c
			}
		}
	}
	s.set.Store(cs)
	return nil
}

// GetCertificate implements tls.Config.GetCertificate: an exact name match first, then a
// wildcard one label deep (RFC 6125 6.4.3), then the default certificate.
func (s *Store) GetCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	cs := s.set.Load()
	if cs == nil {
		return nil, errors.New("tls: no certificate loaded")
	}
	name := strings.ToLower(strings.TrimSuffix(hello.ServerName, "."))
	if name != "" {
		if c, ok := cs.exact[name]; ok {
			return c, nil
		}
		if _, rest, ok := strings.Cut(name, "."); ok {
			if c, ok := cs.wildcard[rest]; ok {
				return c, nil
			}
		}
	}
	return cs.fallback, nil
}
