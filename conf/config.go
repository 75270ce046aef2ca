package conf

import (
	"net/netip"
	"time"
)

// Config is a fully validated and resolved tether configuration.
type Config struct {
	// File is the path the configuration was loaded from, as given to
	// [Load] or [Parse].
	File string
	// DrainTimeout is how long in-flight tunnels may keep running after
	// SIGINT/SIGTERM stopped the listeners. Default 30s; 0 closes tunnels
	// immediately.
	DrainTimeout time.Duration
	// DrainSpread is the window over which the tunnels still open when a
	// drain deadline passes (the process's, or a backend's drained at
	// runtime) are closed, evenly spread, so their clients do not all
	// reconnect at once (default 5s; 0 closes them together).
	DrainSpread time.Duration
	// MaxConns caps the connections served at once by the whole process;
	// 0 (the default) is unlimited.
	MaxConns int
	// MaxHandshakes caps concurrent TLS handshakes (default 1024); a
	// connection over the cap is closed at once and counted.
	MaxHandshakes int
	// FDReserve is how many file descriptors tether keeps free below its
	// open-file limit (RLIMIT_NOFILE): a new connection that would leave
	// fewer is refused at accept (default 64; 0 turns the check off).
	FDReserve int
	// MaxMemory caps tether's resident memory, in bytes: over it new
	// connections are refused at accept. 0 (the default) means a share
	// ([MemoryShare]) of the memory limit of tether's cgroup when it has one
	// (cgroup v2 memory.max), else none; [MaxMemoryOff] means none.
	MaxMemory int64

	// Engine is how tunnels are run: EngineEventLoop (also when empty, the
	// default; goroutines off Linux) or EngineGoroutines. It applies at start
	// and binary upgrade, not on reload.
	Engine string
	// Admin is the admin/metrics listener; nil (no [admin] table) means none.
	Admin *Admin
	// Listeners in file order; never empty in a valid Config.
	Listeners []*Listener
	// Upstreams by name; every Listener.Upstream is a key of this map.
	Upstreams map[string]*Upstream
}

// Listener is one [[listeners]] entry.
type Listener struct {
	// Name is unique among listeners and never empty.
	Name string
	// Listen is the listen address exactly as written.
	Listen string
	// Addr is Listen parsed; it is always an IP literal. Port 0 asks the
	// kernel for a free port when the listener is bound (the running server
	// reports the address it got: listener.Server.Addr, the "listening" log
	// line, /status.json); such a listener keeps its socket across reloads by
	// name.
	Addr netip.AddrPort
	// IPv6Only sets IPV6_V6ONLY on an IPv6 listener (default true, like
	// nginx). It is ignored for IPv4 addresses.
	IPv6Only bool
	// ReusePort sets SO_REUSEPORT, so several tether processes can listen on
	// the same address and the kernel spreads connections over them
	// (default false).
	ReusePort bool
	// Upstream names the [Upstream] connections are forwarded to; it always
	// exists in Config.Upstreams.
	Upstream string
	// Preamble selects how the request head is inspected (default
	// [PreambleHTTP]).
	Preamble PreambleMode
	// MaxPreamble is the number of request-head bytes that may be peeked
	// (default 32768, range 1024..1048576).
	MaxPreamble int
	// MaxConns caps this listener's connections at once; 0 is unlimited.
	MaxConns int
	// MaxConnsPerClient caps the connections one client address may have
	// open at once on this listener; 0 is unlimited.
	MaxConnsPerClient int
	// ProxyIn accepts PROXY protocol v1/v2 headers from trusted peers; nil
	// means no header is read.
	ProxyIn *ProxyIn
	// HashKey is where the sticky hash key comes from (default: the client
	// address). Any other source needs a preamble to read it from.
	HashKey HashKey
	// Forwarded inserts X-Forwarded-For, X-Real-IP and X-Forwarded-Proto
	// into the request head replayed to the backend; nil means the head is
	// replayed untouched.
	Forwarded *Forwarded
	// TLS is the certificate to terminate TLS with; nil means a plain TCP
	// listener.
	TLS *TLS
	// Timeouts are fully resolved: built-in defaults, then [timeouts], then
	// [listeners.timeouts].
	Timeouts Timeouts
	// Line is the line of the listener's [[listeners]] header (or of its
	// inline table).
	Line int
}

// PreambleMode says what a listener expects before it picks a backend.
type PreambleMode string

// Preamble modes.
const (
	// PreambleHTTP peeks an HTTP/1.1 request head (any method).
	PreambleHTTP PreambleMode = "http"
	// PreambleWebSocket peeks an HTTP/1.1 request head that must be a
	// WebSocket upgrade.
	PreambleWebSocket PreambleMode = "websocket"
	// PreambleNone forwards bytes without looking at them.
	PreambleNone PreambleMode = "none"
)

// TLS holds the files to terminate TLS with.
type TLS struct {
	// Certs are the certificate/key pairs, chosen per handshake by SNI and,
	// among pairs for the same names (an ECDSA and an RSA one), by what the
	// client can verify (see tlsterm.Store); the first is the default.
	// `cert`/`key` in the file become Certs[0], followed by the `certs`
	// entries. Never empty in a valid Config.
	Certs []CertKey
	// ClientCA is a PEM bundle of CAs that sign client certificates; empty
	// means no client certificates are asked for.
	ClientCA string
	// ClientAuth is ClientAuthRequire (the default with ClientCA) or
	// ClientAuthOptional (verify a certificate when one is sent).
	ClientAuth ClientAuth
	// TicketKeys are session-ticket key files in nginx's
	// ssl_session_ticket_key format (80 or 48 bytes): the first encrypts new
	// tickets, all decrypt. Paths are absolute; each had a valid size when the
	// file was parsed. Empty: per-process keys that Go rotates.
	TicketKeys []string
	// Curves are the key-exchange groups offered, spelled as tlsterm.GroupName returns them;
	// empty means crypto/tls's defaults (X25519MLKEM768 first).
	Curves []string
}

// CertKey is one certificate chain and its private key. Paths are
// resolved against the configuration file's directory and made absolute;
// both existed and were readable when the file was parsed.
type CertKey struct {
	Cert, Key string
}

// ClientAuth says whether TLS clients must present a certificate.
type ClientAuth string

// Client certificate policies.
const (
	ClientAuthNone     ClientAuth = ""
	ClientAuthRequire  ClientAuth = "require"
	ClientAuthOptional ClientAuth = "optional"
)

// ProxyIn is a listener's `proxy_protocol_in` table.
type ProxyIn struct {
	// Trusted peers must send a PROXY v1 or v2 header, whose source address
	// then stands for the client. A peer outside Trusted that sends a
	// header is refused; one that sends none is served as itself.
	Trusted []netip.Prefix
	// Timeout bounds the header's arrival (default 5s).
	Timeout time.Duration
}

// Forwarded is a listener's `forwarded_headers` table.
type Forwarded struct {
	// Trusted peers' X-Forwarded-For is extended with the client address;
	// anyone else's X-Forwarded-For, X-Real-IP and X-Forwarded-Proto are
	// replaced, so a client cannot forge them.
	Trusted []netip.Prefix
}

// Admin is the [admin] table: the HTTP listener for /status, /metrics,
// /reload and the drain API.
type Admin struct {
	// Listen is the admin address (default 127.0.0.1:9090; loopback unless
	// configured otherwise).
	Listen string
	// Addr is Listen parsed.
	Addr netip.AddrPort
	// Pprof mounts Go's net/http/pprof handlers under /debug/pprof/ on the
	// admin listener (default false: CPU profiles and heap dumps are for
	// whoever can reach that address).
	Pprof bool
	// Hosts are the names, besides the listen address and localhost, that
	// a state-changing request's Host header may carry (e.g. the name the
	// admin address is reached by through a tunnel); empty means none. A
	// POST whose Host is anything else is refused, against DNS rebinding.
	Hosts []string
	// TokenFile is the file the bearer token was read from, resolved
	// against the configuration's directory; empty means no token.
	TokenFile string
	// Token, when not empty, must be sent as "Authorization: Bearer TOKEN"
	// with every state-changing request (POST /reload, /drain, /undrain).
	// It is TokenFile's content without surrounding white space.
	Token string
}

// Timeouts bounds each phase of a connection. In a parsed [Config] every
// field is greater than zero, except Response and CloseGrace (zero: off).
type Timeouts struct {
	// Handshake bounds the TLS handshake.
	Handshake time.Duration
	// Preamble bounds the arrival of the HTTP request head (after TLS).
	Preamble time.Duration
	// Connect bounds each backend connect attempt.
	Connect time.Duration
	// Idle closes a tunnel after no bytes flowed either way for this long.
	Idle time.Duration
	// HalfClose is how long the other side may keep sending after one side
	// closed its write half. Defaults to Idle.
	HalfClose time.Duration
	// Response bounds the wait for the first byte of the backend's answer
	// after the request head was sent, on listeners that read one (preamble
	// "http" or "websocket"). When it passes the client gets 504 and the
	// backend a failure (max_fails). Zero (the default) waits for as long
	// as Idle.
	Response time.Duration
	// CloseGrace bounds a polite WebSocket ending: when tether ends an
	// upgraded tunnel (a drain deadline, shutdown, idle), each direction
	// may finish the message in flight for this long before the close
	// frames 1001 go out. Zero turns polite endings (and frame tracking) off.
	CloseGrace time.Duration
}

// DefaultTimeouts returns the built-in defaults: handshake 10s, preamble
// 10s, connect 5s, idle 1h, half_close 1h, close_grace 5s.
//
// The idle default is deliberately long: nginx's proxy_timeout of 10m and
// the 60s that HAProxy users commonly set cut quiet WebSockets.
func DefaultTimeouts() Timeouts {
	return Timeouts{
		Handshake:  10 * time.Second,
		Preamble:   10 * time.Second,
		Connect:    5 * time.Second,
		Idle:       time.Hour,
		HalfClose:  time.Hour,
		CloseGrace: 5 * time.Second,
	}
}

// Upstream is one [upstreams.NAME] table: a group of backend servers.
type Upstream struct {
	// Name is the table name (the NAME in [upstreams.NAME]).
	Name string
	// Balance is the balancing method (default [BalanceHashConsistent]): a
	// name of package balance's table.
	Balance Balance
	// BalanceFactor is balance_factor, a percentage of at least 100
	// (HAProxy hash-balance-factor): a backend takes a new client only
	// while its tunnels stay within that share of the average; 0 (the
	// default) is unbounded. Only methods with the Factor trait take it.
	BalanceFactor int
	// Servers in file order; in a valid Config at least one is not a
	// backup, server names are unique, and the weights of the non-backup
	// servers sum to at most 65536.
	Servers []Server
	// ProxyProtocol selects the PROXY protocol header sent to backends;
	// [ProxyOff] (the zero value) sends none.
	ProxyProtocol ProxyProtocol
	// Source are the local addresses the backends are dialled from (nginx
	// proxy_bind, HAProxy source), each connection from the next one of the
	// backend's family; empty (the zero value) lets the kernel choose. In a
	// valid Config they are unique addresses of this host, and every
	// backend given as an IP literal has a source of its family.
	Source []netip.Addr
	// UpstreamOps are the active health check and DNS settings (defined in
	// upstream.go).
	UpstreamOps
	// Line is the line of the [upstreams.NAME] header (or of the key that
	// first defined it).
	Line int
}

// Balance is a balancing method: a name of package balance's table
// (balance.Names).
type Balance string

// The balancing methods conf names itself; package balance has them all.
const (
	// BalanceHashConsistent is nginx `hash $remote_addr consistent;`
	// (ketama-style ring, src/stream/ngx_stream_upstream_hash_module.c).
	BalanceHashConsistent Balance = "hash-consistent"
	// BalanceHash is nginx `hash $remote_addr;` (weighted modulo hash).
	BalanceHash Balance = "hash"
	// BalanceIPHash is nginx http `ip_hash;`: the first three bytes of an
	// IPv4 client address (or all of an IPv6 one), not its text, are hashed
	// (src/http/modules/ngx_http_upstream_ip_hash_module.c).
	BalanceIPHash Balance = "ip-hash"
)

// ProxyProtocol is the PROXY protocol version sent to backends.
type ProxyProtocol string

// PROXY protocol versions.
const (
	// ProxyOff sends no PROXY protocol header.
	ProxyOff ProxyProtocol = ""
	// ProxyV1 sends the human-readable v1 header.
	ProxyV1 ProxyProtocol = "v1"
	// ProxyV2 sends the binary v2 header.
	ProxyV2 ProxyProtocol = "v2"
)

// Server is one backend, parsed from an nginx `server` line by
// [ParseServer].
type Server struct {
	// Name is the address text exactly as written, e.g. "localhost:3002";
	// it is the server's identity on the hash ring.
	Name string
	// Host is an IP literal without brackets ("::1", "127.0.0.1") or a DNS
	// name ("localhost"); names are resolved when connecting, never here.
	Host string
	// Port is in 1..65535.
	Port uint16
	// Weight is 1..65536 (default 1).
	Weight int
	// MaxFails is the number of failed attempts within FailTimeout that
	// mark the server unavailable for FailTimeout (default 1); 0 disables
	// failure accounting.
	MaxFails int
	// FailTimeout is the failure window and the time a failed server stays
	// unavailable (default 10s).
	FailTimeout time.Duration
	// MaxConns limits concurrent connections to the server; 0 is unlimited.
	MaxConns int
	// Down marks the server permanently unavailable.
	Down bool
	// Backup marks a backup server: it is not on the hash ring and is only
	// used by nginx's round-robin fallback once no primary server is left
	// (nginx accepts `backup` in a hash upstream when the server lines
	// precede the hash directive). An upstream needs at least one server
	// that is not a backup.
	Backup bool
	// ID is HAProxy's server id (`id=N`, 1..1048575); 0 (the default) lets
	// the HAProxy methods number the server as HAProxy does. Only methods
	// with the IDs trait take it.
	ID int
	// Resolve (nginx `resolve`) re-resolves Host while running, honouring
	// the DNS TTL; Host is then always a name, never an IP literal.
	Resolve bool
	// Service (nginx `service=`), when set, makes the server's backends
	// the targets of the SRV records of SRVName() (RFC 2782), each on the
	// record's port, named by its target on the hash ring, weighted by the
	// record's weight unless Weight is set, and a backup unless its
	// priority is the lowest. Needs Resolve and the upstream's resolver;
	// Port is then 0 and Name is the host name alone.
	Service string
}

// Values of Config.Engine.
const (
	EngineEventLoop  = "event-loop"
	EngineGoroutines = "goroutines"
)
