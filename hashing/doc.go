// Package hashing picks upstream peers exactly like nginx 1.22's stream upstream
// `hash KEY [consistent];` balancer, so that tether can replace an nginx
// `stream { hash $remote_addr consistent; }` edge without moving a single client.
//
// It reproduces, byte for byte:
//
//   - the ketama ring of `hash KEY consistent;` (ngx_stream_upstream_update_chash and
//     ngx_stream_upstream_get_chash_peer in src/stream/ngx_stream_upstream_hash_module.c),
//   - the Cache::Memcached rehash walk of `hash KEY;` (ngx_stream_upstream_get_hash_peer),
//   - the smooth weighted round-robin fallback both use after 20 failed tries, for a single
//     server or an empty key (ngx_stream_upstream_get_round_robin_peer in
//     src/stream/ngx_stream_upstream_round_robin.c), including `backup` servers,
//   - nginx's spelling of $remote_addr (ngx_sock_ntop / ngx_inet6_ntop in src/core/ngx_inet.c),
//     which is the hash key and differs from Go's netip formatting for some IPv6 addresses.
//
// The package is pure computation: the caller (package upstream) owns sockets, health checks
// and failure accounting and reports them through the Health interface.
//
// Not modelled: nginx lowers a peer's effective_weight after a failure and lets it recover on
// later picks; here the effective weight is always the configured weight. nginx also resets
// every primary peer's fail counter when no peer at all is left ("mark them as live for quick
// recovery"); that belongs to the caller's Health.
package hashing
