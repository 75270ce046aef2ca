package splice

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"math/big"
	mrand "math/rand/v2"
	"net"
	"sync"
	"testing"
	"time"
)

// hangLimit only detects hangs; it never decides a pass on timing.
const hangLimit = 30 * time.Second

// tcpPair returns both ends of a fresh loopback TCP connection.
func tcpPair(tb testing.TB) (dialed, accepted *net.TCPConn) {
	tb.Helper()
	ln, err := net.ListenTCP("tcp", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		tb.Fatalf("listen: %v", err)
	}
	defer ln.Close()
	type res struct {
		c   *net.TCPConn
		err error
	}
	ch := make(chan res, 1)
	go func() {
		c, err := ln.AcceptTCP()
		ch <- res{c, err}
	}()
	d, err := net.DialTCP("tcp", nil, ln.Addr().(*net.TCPAddr))
	if err != nil {
		tb.Fatalf("dial: %v", err)
	}
	r := <-ch
	if r.err != nil {
		d.Close()
		tb.Fatalf("accept: %v", r.err)
	}
	return d, r.c
}

// testTLS returns a server config with a fresh self-signed certificate and
// a client config trusting it.
var testTLS = sync.OnceValues(func() (server, client *tls.Config) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "tether.test"},
		DNSNames:     []string{"tether.test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		panic(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		panic(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(cert)
	server = &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key, Leaf: cert}}}
	client = &tls.Config{RootCAs: roots, ServerName: "tether.test"}
	return server, client
})

// rig is one tunnel under test: the peers the test drives and the
// proxy-side conns handed to Forward.
type rig struct {
	clientPeer  net.Conn     // the user's client (*tls.Conn for TLS rigs)
	clientTCP   *net.TCPConn // the client peer's socket
	backendPeer *net.TCPConn // the backend server
	client      net.Conn     // proxy side: *net.TCPConn or *tls.Conn
	backend     *net.TCPConn // proxy side
}

func newRig(tb testing.TB, useTLS bool) *rig {
	tb.Helper()
	return newRigWith(tb, useTLS, false)
}

// newRigWith is newRig; with foreign, the proxy's *tls.Conn is made by
// tls.Server, which only the stream tunnel can drive.
func newRigWith(tb testing.TB, useTLS, foreign bool) *rig {
	tb.Helper()
	r := &rig{}
	var proxyClient *net.TCPConn
	r.clientTCP, proxyClient = tcpPair(tb)
	r.backend, r.backendPeer = tcpPair(tb)
	r.clientPeer, r.client = r.clientTCP, proxyClient
	if useTLS {
		srvCfg, cliCfg := testTLS()
		srv := TLSServer(proxyClient, srvCfg)
		if foreign {
			srv = tls.Server(proxyClient, srvCfg)
		}
		cli := tls.Client(r.clientTCP, cliCfg)
		errc := make(chan error, 1)
		go func() { errc <- srv.Handshake() }()
		if err := cli.Handshake(); err != nil {
			tb.Fatalf("client handshake: %v", err)
		}
		if err := <-errc; err != nil {
			tb.Fatalf("server handshake: %v", err)
		}
		r.clientPeer, r.client = cli, srv
	}
	tb.Cleanup(r.closePeers)
	return r
}

func (r *rig) closePeers() {
	r.clientPeer.Close()
	r.backendPeer.Close()
}

// forward runs Forward in the background.
func (r *rig) forward(ctx context.Context, e *Engine, opt Options) <-chan Result {
	ch := make(chan Result, 1)
	go func() { ch <- e.Forward(ctx, r.client, r.backend, opt) }()
	return ch
}

func waitResult(tb testing.TB, ch <-chan Result) Result {
	tb.Helper()
	select {
	case res := <-ch:
		return res
	case <-time.After(hangLimit):
		tb.Fatalf("Forward did not return within %v", hangLimit)
		return Result{}
	}
}

// closeWriteConn half-closes c (close_notify + TCP FIN for TLS peers).
func closeWriteConn(tb testing.TB, c net.Conn) {
	tb.Helper()
	if err := closeWrite(c); err != nil {
		tb.Fatalf("close write: %v", err)
	}
}

// resetConn aborts c with a TCP RST (SO_LINGER 0).
func resetConn(tb testing.TB, c *net.TCPConn) {
	tb.Helper()
	if err := c.SetLinger(0); err != nil {
		tb.Fatalf("set linger: %v", err)
	}
	c.Close()
}

// sendPattern writes n pseudo-random bytes derived from seed in chunks of
// varying size, then half-closes w. It returns the SHA-256 of what it sent.
func sendPattern(w net.Conn, seed uint64, n int64) ([32]byte, error) {
	gen := mrand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8), 1})
	sizes := mrand.New(mrand.NewPCG(seed, 7))
	h := sha256.New()
	buf := make([]byte, 256<<10)
	for n > 0 {
		chunk := buf[:min(int64(1+sizes.IntN(len(buf))), n)]
		_, _ = gen.Read(chunk)
		h.Write(chunk)
		if _, err := w.Write(chunk); err != nil {
			return [32]byte{}, err
		}
		n -= int64(len(chunk))
	}
	var sum [32]byte
	h.Sum(sum[:0])
	return sum, closeWrite(w)
}

// recvAll reads r to EOF and returns the byte count and SHA-256.
func recvAll(r io.Reader) (int64, [32]byte, error) {
	h := sha256.New()
	n, err := io.CopyBuffer(h, r, make([]byte, 256<<10))
	var sum [32]byte
	h.Sum(sum[:0])
	return n, sum, err
}
