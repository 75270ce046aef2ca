package nginxconf

import "strings"

// Reasons shared by many directives.
const (
	whyL4Upgrade   = "not needed: tether is L4 and passes the client's Upgrade and Connection headers to the backend untouched"
	whyProcess     = "not needed: tether is one Go process that uses every core; there are no workers to configure"
	whyLogs        = `not carried over: tether logs one JSON line per tunnel on stderr ("tunnel closed": client, backend, bytes, duration, reason); log files and formats are not configurable`
	whyContent     = "not carried over: tether does not serve content or answer requests itself; every request on a listener goes to its upstream"
	whyNoBuffer    = "not needed: tether streams bytes both ways as they arrive and buffers nothing"
	whyNoCache     = "not needed: tether does not cache"
	whyTLSFixed    = "not carried over: tether's TLS settings are fixed (TLS 1.2 and 1.3, forward-secret AEAD suites, ALPN http/1.1, rotating session ticket keys)"
	whyHeadersOut  = "not carried over: tether passes the backend's response headers through unchanged and adds none (set such headers, e.g. CORS, in the application)"
	whyHeadersIn   = "not carried over: tether forwards the client's request head unchanged and adds no header"
	whyForwarded   = `not carried over: forwarded_headers sets X-Forwarded-For and X-Real-IP from the client address only (proxy_set_header X-Real-IP $remote_addr, X-Forwarded-For $proxy_add_x_forwarded_for), and PROXY protocol (proxy_protocol = "v1" or "v2" on the upstream) tells a backend that accepts it`
	whyAccess      = "not carried over: tether has no access rules; filter clients in front of it (firewall)"
	whyRateLimit   = "not carried over: tether has no request rate limits (max_conns_per_client caps concurrent connections per client address)"
	whyKeepalive   = "not needed: tether keeps no idle backend connections; each client tunnel has its own backend connection, as with nginx stream"
	whyResolver    = "not carried over: tether resolves server names with the system resolver when it starts and on every reload"
	whyHTTPSession = "not needed: a tether tunnel lasts as long as the client connection (idle timeout); HTTP keep-alive between requests is the client's and backend's business"
	whyVariables   = "not carried over: tether has no variables; its routing cannot depend on them"
	whyNextUp      = "not carried over: tether always tries the next server of the hash when a connect fails (nginx's default, error and timeout), at most once per server"
	whyBackendTLS  = "not supported: tether connects to backends in plain TCP (terminate TLS at tether, or forward it raw with no [listeners.tls])"
)

// unsupported returns why directive d (inside a block named parent, "" at the top) is not
// carried over, and whether that reason covers its whole block.
func unsupported(d *Directive, parent string) (why string, wholeBlock bool) {
	name := d.Name
	if why, ok := knownWhy[name]; ok {
		return why, d.IsBlock()
	}
	switch {
	case name == "map":
		if len(d.Args) > 0 && strings.EqualFold(d.Args[0], "$http_upgrade") {
			return whyL4Upgrade + " (the map $http_upgrade $connection_upgrade idiom only serves proxy_set_header Connection)", true
		}
		return whyVariables, true
	case name == "proxy_set_header":
		return proxySetHeaderWhy(d), false
	case strings.HasPrefix(name, "ssl_") && parent != "upstream":
		return whyTLSFixed, false
	case strings.HasPrefix(name, "proxy_cache") || strings.HasPrefix(name, "proxy_no_cache") || strings.HasPrefix(name, "proxy_store"):
		return whyNoCache, false
	case strings.HasPrefix(name, "proxy_buffer") || strings.HasPrefix(name, "proxy_busy_buffers") || strings.HasPrefix(name, "proxy_temp") || strings.HasPrefix(name, "proxy_max_temp"):
		return whyNoBuffer, false
	case strings.HasPrefix(name, "proxy_ssl"):
		return whyBackendTLS, false
	case strings.HasPrefix(name, "gzip") || strings.HasPrefix(name, "fastcgi_") || strings.HasPrefix(name, "uwsgi_") || strings.HasPrefix(name, "scgi_") || strings.HasPrefix(name, "grpc_") || strings.HasPrefix(name, "memcached_"):
		return whyContent, d.IsBlock()
	case strings.HasPrefix(name, "limit_req"):
		return whyRateLimit, false
	case strings.HasPrefix(name, "keepalive") && parent == "upstream":
		return whyKeepalive, false
	case strings.HasPrefix(name, "proxy_next_upstream"):
		return whyNextUp, false
	case d.IsBlock():
		return "not carried over: tether has no equivalent of this block", true
	}
	return "not carried over: tether has no equivalent", false
}

// proxySetHeaderWhy explains a proxy_set_header line by the header it sets.
func proxySetHeaderWhy(d *Directive) string {
	if len(d.Args) == 0 {
		return whyHeadersIn
	}
	switch strings.ToLower(d.Args[0]) {
	case "upgrade", "connection":
		return whyL4Upgrade
	case "host":
		return "not needed: tether forwards the request head unchanged, Host included"
	case "x-real-ip", "x-forwarded-for", "forwarded", "x-client-ip", "true-client-ip":
		return whyForwarded
	}
	return whyHeadersIn
}

// knownWhy are the reasons for directives that are not carried over by name.
var knownWhy = map[string]string{
	// main and events
	"user":                 whyProcess,
	"worker_processes":     whyProcess,
	"worker_rlimit_nofile": "not carried over: raise tether's open-file limit with the service manager (LimitNOFILE=) or ulimit -n",
	"worker_cpu_affinity":  whyProcess,
	"worker_priority":      whyProcess,
	"pid":                  "not needed: tether runs in the foreground under a service manager and writes no pid file",
	"daemon":               "not needed: tether runs in the foreground under a service manager",
	"master_process":       whyProcess,
	"load_module":          "not needed: tether has no modules",
	"pcre_jit":             whyProcess,
	"thread_pool":          whyProcess,
	"timer_resolution":     whyProcess,
	"env":                  "not carried over: tether's configuration does not read environment variables",
	"events":               "not needed: tether uses the Go runtime's network poller; there are no worker connections to size",
	"error_log":            whyLogs,
	"access_log":           whyLogs,
	"log_format":           whyLogs,
	"open_log_file_cache":  whyLogs,
	"log_not_found":        whyLogs,
	"log_subrequest":       whyLogs,
	"rewrite_log":          whyLogs,
	"include":              "not read: the configuration was parsed without following includes (Load follows them)",

	// http content and behaviour
	"root":                           whyContent,
	"alias":                          whyContent,
	"index":                          whyContent,
	"try_files":                      whyContent,
	"return":                         whyContent,
	"rewrite":                        whyContent,
	"error_page":                     whyContent,
	"autoindex":                      whyContent,
	"types":                          "not needed: tether serves no files, so it needs no MIME types",
	"types_hash_max_size":            "not needed: tether serves no files, so it needs no MIME types",
	"types_hash_bucket_size":         "not needed: tether serves no files, so it needs no MIME types",
	"default_type":                   "not needed: tether serves no files, so it needs no MIME types",
	"charset":                        whyContent,
	"expires":                        whyHeadersOut,
	"add_header":                     whyHeadersOut,
	"add_trailer":                    whyHeadersOut,
	"more_set_headers":               whyHeadersOut,
	"proxy_hide_header":              whyHeadersOut,
	"proxy_pass_header":              whyHeadersOut,
	"proxy_ignore_headers":           whyHeadersOut,
	"proxy_cookie_domain":            whyHeadersOut,
	"proxy_cookie_path":              whyHeadersOut,
	"proxy_cookie_flags":             whyHeadersOut,
	"proxy_redirect":                 "not needed: tether does not rewrite responses",
	"proxy_http_version":             "not needed: tether replays the client's own HTTP/1.1 request head byte for byte, so the backend sees the client's version and the Upgrade",
	"proxy_pass_request_headers":     whyHeadersIn,
	"proxy_pass_request_body":        whyHeadersIn,
	"proxy_set_body":                 whyHeadersIn,
	"proxy_method":                   whyHeadersIn,
	"proxy_intercept_errors":         "not carried over: tether passes the backend's responses through unchanged",
	"proxy_request_buffering":        whyNoBuffer,
	"proxy_buffering":                whyNoBuffer,
	"proxy_max_temp_file_size":       whyNoBuffer,
	"proxy_send_timeout":             "not carried over: tether has one idle timeout per listener for both directions (taken from proxy_read_timeout or proxy_timeout)",
	"proxy_read_timeout":             "not carried over here: tether has one idle timeout per listener, taken from the location it imported",
	"proxy_connect_timeout":          "not carried over here: tether has one connect timeout per listener, taken from the location it imported",
	"proxy_bind":                     "not carried over: tether connects to backends from the address the system chooses",
	"proxy_socket_keepalive":         "not carried over: tether does not set SO_KEEPALIVE on backend connections",
	"proxy_download_rate":            "not carried over: tether does not throttle tunnels",
	"proxy_upload_rate":              "not carried over: tether does not throttle tunnels",
	"proxy_limit_rate":               "not carried over: tether does not throttle tunnels",
	"limit_rate":                     "not carried over: tether does not throttle tunnels",
	"limit_rate_after":               "not carried over: tether does not throttle tunnels",
	"proxy_responses":                "not supported: tether proxies TCP only, not UDP",
	"proxy_requests":                 "not supported: tether proxies TCP only, not UDP",
	"sendfile":                       whyNoBuffer + " (with splice(2) on Linux)",
	"sendfile_max_chunk":             whyNoBuffer,
	"tcp_nopush":                     whyNoBuffer,
	"tcp_nodelay":                    "not needed: Go sets TCP_NODELAY on every connection",
	"aio":                            whyNoBuffer,
	"directio":                       whyNoBuffer,
	"output_buffers":                 whyNoBuffer,
	"postpone_output":                whyNoBuffer,
	"server_tokens":                  "not needed: tether adds nothing to responses",
	"keepalive_timeout":              whyHTTPSession,
	"keepalive_requests":             whyHTTPSession,
	"keepalive_time":                 whyHTTPSession,
	"keepalive_disable":              whyHTTPSession,
	"lingering_close":                whyHTTPSession,
	"lingering_time":                 whyHTTPSession,
	"lingering_timeout":              whyHTTPSession,
	"reset_timedout_connection":      whyHTTPSession,
	"send_timeout":                   "not carried over: tether has one idle timeout per listener for both directions",
	"client_max_body_size":           "not needed: tether does not read request bodies; they pass through to the backend",
	"client_body_buffer_size":        "not needed: tether does not read request bodies; they pass through to the backend",
	"client_body_timeout":            "not needed: tether does not read request bodies; they pass through to the backend",
	"client_body_temp_path":          "not needed: tether does not read request bodies; they pass through to the backend",
	"client_header_buffer_size":      "not carried over: tether reads the request head into one buffer of max_preamble bytes (from large_client_header_buffers)",
	"server_names_hash_bucket_size":  "not needed: tether does not choose servers by name",
	"server_names_hash_max_size":     "not needed: tether does not choose servers by name",
	"variables_hash_max_size":        whyVariables,
	"variables_hash_bucket_size":     whyVariables,
	"proxy_headers_hash_max_size":    whyHeadersIn,
	"proxy_headers_hash_bucket_size": whyHeadersIn,
	"map_hash_max_size":              whyVariables,
	"map_hash_bucket_size":           whyVariables,
	"set":                            whyVariables,
	"geo":                            whyVariables,
	"split_clients":                  whyVariables,
	"if":                             "not carried over: tether has no conditions; everything on a listener is treated alike",
	"limit_except":                   whyAccess,
	"allow":                          whyAccess,
	"deny":                           whyAccess,
	"auth_basic":                     whyAccess,
	"auth_basic_user_file":           whyAccess,
	"auth_request":                   whyAccess,
	"satisfy":                        whyAccess,
	"limit_conn_zone":                "only carried over through limit_conn on a zone keyed by $binary_remote_addr or $remote_addr (max_conns_per_client)",
	"limit_conn":                     "only carried over for the location a listener was imported from, on a zone keyed by the client address (max_conns_per_client)",
	"limit_conn_status":              "not carried over: tether closes a connection over max_conns_per_client without a response",
	"limit_conn_log_level":           whyLogs,
	"limit_conn_dry_run":             "not carried over: max_conns_per_client is always enforced",
	"http2":                          "not carried over: tether offers only HTTP/1.1 (ALPN http/1.1), as WebSocket upgrades need",
	"http2_max_concurrent_streams":   "not carried over: tether offers only HTTP/1.1 (ALPN http/1.1), as WebSocket upgrades need",
	"http2_push":                     "not carried over: tether offers only HTTP/1.1 (ALPN http/1.1), as WebSocket upgrades need",
	"http2_push_preload":             "not carried over: tether offers only HTTP/1.1 (ALPN http/1.1), as WebSocket upgrades need",
	"resolver":                       whyResolver,
	"resolver_timeout":               whyResolver,
	"ssl_preread":                    "not supported: tether either terminates TLS or forwards bytes without reading them; it cannot route on the SNI of TLS it does not terminate",
	"preread_buffer_size":            "not needed: tether does not preread on raw (preamble = \"none\") listeners",
	"preread_timeout":                "not needed: tether does not preread on raw (preamble = \"none\") listeners",
	"server_name":                    "not carried over: tether chooses the certificate by SNI from the names in the certificates, and sends every request on a listener to one upstream",
	"underscores_in_headers":         whyHeadersIn,
	"ignore_invalid_headers":         whyHeadersIn,
	"merge_slashes":                  whyHeadersIn,
	"absolute_redirect":              whyContent,
	"port_in_redirect":               whyContent,
	"server_name_in_redirect":        whyContent,
	"sub_filter":                     whyContent,
	"sub_filter_once":                whyContent,
	"ssi":                            whyContent,
	"real_ip_recursive":              "not carried over: tether takes the client address from a PROXY protocol header of a trusted peer, never from request headers",
	"uninitialized_variable_warn":    whyVariables,
	"js_import":                      whyVariables,
	"js_set":                         whyVariables,
	"perl_set":                       whyVariables,
	"status_zone":                    "not carried over: tether's statistics are on the [admin] listener (/metrics)",
	"stub_status":                    "not carried over: tether's statistics are on the [admin] listener (/metrics)",
	"zone":                           "not needed: tether is one process; its upstream state is shared by every connection",
	"state":                          "not carried over: tether reads servers from its own configuration (reload with SIGHUP)",
	"queue":                          "not carried over: tether does not queue connections when every server is full",
	"ntlm":                           whyKeepalive,
	"proxy_timeout":                  "not carried over here: tether has one idle timeout per listener",
	"worker_connections":             "not needed: tether has no worker connection table (the process open-file limit and max_conns bound connections)",
	"multi_accept":                   whyProcess,
	"accept_mutex":                   whyProcess,
	"accept_mutex_delay":             whyProcess,
	"use":                            whyProcess,
	"worker_aio_requests":            whyProcess,
	"debug_connection":               whyLogs,
	"variables_hash":                 whyVariables,
}
