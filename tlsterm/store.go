package tlsterm

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
)

// Pair names one certificate chain and its private key on disk (PEM).
type Pair struct {
	Cert string // path of the PEM certificate chain, leaf first
	Key  string // path of the PEM private key
}

// Store holds the certificates of one listener and chooses one per handshake: by the client's
// SNI first, then, among the certificates for that name, by what the ClientHello supports
// (signature schemes, TLS 1.2 cipher suites, curves), preferring ECDSA over RSA. So an ECDSA and
// an RSA certificate for the same names can serve side by side: modern clients get the cheap
// ECDSA handshake, clients that can only verify RSA get RSA. The first certificate loaded is the
// default, used (with any certificate for exactly its names) when SNI is absent or matches none.
// A Store is safe for concurrent use; the zero value holds no certificate.
type Store struct {
	set atomic.Pointer[certSet]
}

// certSet is one immutable generation of a Store's certificates. Every list is in preference
// order: ECDSA and Ed25519 before RSA, otherwise as configured.
type certSet struct {
	exact    map[string][]*tls.Certificate // lower-case DNS name or IP text -> certificates
	wildcard map[string][]*tls.Certificate // "example.com" for "*.example.com"
	fallback []*tls.Certificate            // the default certificate and any for exactly its names
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
		exact:    make(map[string][]*tls.Certificate),
		wildcard: make(map[string][]*tls.Certificate),
	}
	var defaultNames string
	for i := range certs {
		c := &certs[i]
		if c.Leaf == nil {
			leaf, err := x509.ParseCertificate(c.Certificate[0])
			if err != nil {
				return fmt.Errorf("tls: parse certificate %d: %w", i, err)
			}
			c.Leaf = leaf
		}
		if i == 0 {
			defaultNames = namesOf(c.Leaf)
		}
		if namesOf(c.Leaf) == defaultNames {
			cs.fallback = append(cs.fallback, c)
		}
		for _, name := range c.Leaf.DNSNames {
			name = strings.ToLower(name)
			if rest, ok := strings.CutPrefix(name, "*."); ok {
				cs.wildcard[rest] = append(cs.wildcard[rest], c)
				continue
			}
			cs.exact[name] = append(cs.exact[name], c)
		}
		for _, ip := range c.Leaf.IPAddresses {
			cs.exact[ip.String()] = append(cs.exact[ip.String()], c)
		}
	}
	for _, l := range cs.exact {
		preferCheap(l)
	}
	for _, l := range cs.wildcard {
		preferCheap(l)
	}
	preferCheap(cs.fallback)
	s.set.Store(cs)
	return nil
}

// namesOf returns the names a certificate is valid for, sorted and lower-cased, as one string.
func namesOf(leaf *x509.Certificate) string {
	names := make([]string, 0, len(leaf.DNSNames)+len(leaf.IPAddresses))
	for _, n := range leaf.DNSNames {
		names = append(names, strings.ToLower(n))
	}
	for _, ip := range leaf.IPAddresses {
		names = append(names, ip.String())
	}
	slices.Sort(names)
	return strings.Join(slices.Compact(names), " ")
}

// signingCost ranks a certificate's key by what a handshake costs the server: ECDSA and Ed25519
// sign in tens of microseconds, RSA-2048 in about a millisecond (Go's RSA signing is the one
// place where tether's handshakes fall behind OpenSSL's, issue 11).
func signingCost(c *tls.Certificate) int {
	switch c.Leaf.PublicKey.(type) {
	case *ecdsa.PublicKey, ed25519.PublicKey:
		return 0
	case *rsa.PublicKey:
		return 1
	}
	return 2
}

// preferCheap orders l by signingCost, keeping the configured order among equals.
func preferCheap(l []*tls.Certificate) {
	slices.SortStableFunc(l, func(a, b *tls.Certificate) int { return signingCost(a) - signingCost(b) })
}

// GetCertificate implements tls.Config.GetCertificate: the certificates for the exact name
// first, then for a wildcard one label deep (RFC 6125 6.4.3), then the default ones; among
// them the first the ClientHello supports (see choose).
func (s *Store) GetCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	cs := s.set.Load()
	if cs == nil {
		return nil, errors.New("tls: no certificate loaded")
	}
	name := strings.ToLower(strings.TrimSuffix(hello.ServerName, "."))
	if name != "" {
		if l, ok := cs.exact[name]; ok {
			return choose(hello, l), nil
		}
		if _, rest, ok := strings.Cut(name, "."); ok {
			if l, ok := cs.wildcard[rest]; ok {
				return choose(hello, l), nil
			}
		}
	}
	return choose(hello, cs.fallback), nil
}

// choose returns the first of l (in preference order) that the client can use, by
// tls.ClientHelloInfo.SupportsCertificate with the name check left out: the name was matched
// already, and the default certificates serve names they do not carry. When the client can use
// none, it gets the first, and the handshake fails as it would with that one alone.
func choose(hello *tls.ClientHelloInfo, l []*tls.Certificate) *tls.Certificate {
	if len(l) == 1 {
		return l[0]
	}
	nameless := *hello
	nameless.ServerName = ""
	for _, c := range l {
		if nameless.SupportsCertificate(c) == nil {
			return c
		}
	}
	return l[0]
}
