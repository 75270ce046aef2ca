// Package conf loads and validates tether's TOML configuration.
//
// [Load] and [Parse] turn a configuration file into a fully resolved
// [Config]: every default is applied, every address is parsed, every
// server line (nginx `server` syntax, see [ParseServer]) is decoded and
// every cross reference (listener -> upstream) is checked. Nothing is
// silently defaulted when the file says something invalid: all problems
// found in a file are reported together, each with the file name, the
// line and the full key path (like `nginx -t`, but every problem, not
// just the first), as a [Problems] error.
//
// The configuration surface:
//
//	drain_timeout = "30s"        # graceful shutdown: let tunnels drain this long
//	drain_spread = "5s"          # then close the rest evenly over this long
//	max_conns = 0                # whole process; 0 = unlimited
//	max_handshakes = 1024        # TLS handshakes at once
//	engine = "event-loop"        # or "goroutines"
//
//	[admin]                      # absent => no admin listener
//	listen = "127.0.0.1:9090"
//	pprof = false
//	hosts = ["proxy.example.com"] # Host names POSTs may carry besides the address
//	token_file = "admin.token"   # POSTs need Authorization: Bearer <token>
//
//	[timeouts]                   # defaults for every listener
//	handshake  = "10s"           # TLS handshake must finish within
//	preamble   = "10s"           # HTTP request head must arrive within
//	connect    = "5s"            # backend connect timeout (each attempt)
//	idle       = "1h"            # tunnel idle timeout ("0s" is rejected)
//	half_close = "1h"            # after one side half-closes (default = idle)
//	response   = "0s"            # first byte of the backend's answer to a request
//	                             # head, else 504 and a backend failure (0s = off)
//	close_grace = "5s"           # WebSocket tunnels tether ends finish the message in
//	                             # flight, then get close frames 1001 (0s = off)
//
//	[[listeners]]
//	name = "wss"
//	listen = "127.0.0.1:8443"    # IPv4 or [IPv6] literal with port (0: any free port)
//	upstream = "app"
//	preamble = "http"            # "websocket" | "http" | "none"
//	max_preamble = 32768         # 1024..1048576
//	ipv6only = true              # IPv6 listen addresses only
//	reuseport = false
//	max_conns = 0                # this listener; 0 = unlimited
//	max_conns_per_client = 0
//	hash_key = "remote_addr"     # or "header:NAME", "cookie:NAME", "query:NAME"
//	proxy_protocol_in = { trusted = ["10.0.0.0/8"], timeout = "5s" }
//	forwarded_headers = { trusted = ["10.0.0.0/8"] }
//	  [listeners.tls]            # absent => plain listener
//	  cert = "certs/site.pem"    # relative to the config file's directory
//	  key  = "certs/site.key"
//	  [listeners.timeouts]       # per-listener overrides of [timeouts]
//	  idle = "2h"
//
//	[upstreams.app]
//	balance = "hash-consistent"  # or "hash", "ip-hash"
//	servers = ["127.0.0.1:3001", "localhost:3002 weight=2", "127.0.0.1:3003 down"]
//	proxy_protocol = "v2"        # "v1" | "v2"; absent or "" = off
//
// Durations in the TOML file use Go syntax ([time.ParseDuration]: "500ms",
// "30s", "1m30s", "2h"); the fail_timeout parameter of a server line uses
// nginx time syntax, exactly as nginx parses it.
package conf
