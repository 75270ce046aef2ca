package hashing

// ipHashSeed is ip_hash's initial hash (iphp->hash = 89 in ngx_http_upstream_init_ip_hash_peer).
const ipHashSeed = 89

// nextIPHash is ngx_http_upstream_get_ip_hash_peer (src/http/modules/ngx_http_upstream_ip_hash_module.c,
// nginx 1.22): for each address byte, hash = (hash*113 + byte) % 6271, over the first three
// bytes of an IPv4 address (so a /24 shares a backend) or all sixteen of an IPv6 one; then the
// primary peer whose weight range contains hash % total_weight (down peers included). A tried,
// down, failed or full peer costs a try and the loop hashes the address bytes again from the
// current value; after 20 misses, or for a single peer, round robin. The hash reached is kept
// for the next call, as nginx keeps iphp->hash.
func (t *Table) nextIPHash(a *Attempt, h Health) int {
	if a.tries > maxTries || t.single {
		return t.nextRoundRobin(a, h)
	}
	addr := a.key()
	if len(addr) == 4 {
		addr = addr[:3]
	}
	hash := a.hash
	for {
		for _, b := range addr {
			hash = (hash*113 + uint32(b)) % 6271
		}
		p := t.primary[t.weightIndex(hash%t.total)]
		if !a.tried(p) && usable(h.State(p)) {
			a.hash = hash
			return p
		}
		a.tries++
		if a.tries > maxTries {
			return t.nextRoundRobin(a, h)
		}
	}
}
