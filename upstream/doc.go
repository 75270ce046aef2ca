// Package upstream is the live side of one `[upstreams.NAME]` block: the resolved backend
// peers, their passive health (nginx max_fails / fail_timeout / max_conns), the hash table that
// chooses among them, and the dial loop that tries the next peer when a connect fails, the way
// nginx's proxy_next_upstream does for a stream upstream.
package upstream
