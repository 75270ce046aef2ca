package hashing

// maxTries is nginx's limit on hash probes per connection before it falls back to round
// robin (hp->tries > 20 in ngx_stream_upstream_hash_module.c).
const maxTries = 20

// inlineWords is the size of the inline tried bitmap: 256 peers without allocation.
const inlineWords = 4

// inlineKey is the longest key held inside the Attempt; nginx's $remote_addr is at most 39
// bytes. Longer keys are copied to the heap.
const inlineKey = 64

// Attempt is one connection's selection state: nginx's ngx_stream_upstream_hash_peer_data_t
// (key, hash, rehash, tries), the round-robin phase and the tried bitmap. Start it with
// Table.Start, then call Table.Next; after a failed connect call Next again and the hash
// sequence continues where it stopped, exactly like nginx's proxy_next_upstream. The zero
// value is not started; an Attempt may be reused by calling Start again. An Attempt is not
// safe for concurrent use; it is meant to live on the stack of the connection's goroutine.
type Attempt struct {
	t      *Table
	n      int // peers in the selection (len(t.peers), or Begin's n)
	keyLen int
	keyBuf [inlineKey]byte
	long   []byte // the key when it is longer than inlineKey
	hash   uint32 // consistent: ring index (hp->hash); plain, ip_hash: accumulated hash value
	rehash uint64 // plain: the rehash counter (hp->rehash)
	tries  int    // failed hash probes (hp->tries)
	picks  int    // peers returned so far (nginx's pc->tries counts down from len(peers))
	backup bool   // round robin moved on to the backup peers (rrp->peers = peers->next)

	small [inlineWords]uint64
	big   []uint64 // tried bitmap when there are more than 256 peers
}

func (a *Attempt) reset(t *Table, key []byte) {
	a.begin(t, len(t.peers), key)
}

func (a *Attempt) begin(t *Table, n int, key []byte) {
	*a = Attempt{t: t, n: n, keyLen: len(key), big: a.big[:0]}
	if len(key) <= inlineKey {
		copy(a.keyBuf[:], key)
	} else {
		a.long = append([]byte(nil), key...)
	}
	if n > inlineWords*64 {
		words := (n + 63) / 64
		if cap(a.big) < words {
			a.big = make([]uint64, words)
		} else {
			a.big = a.big[:words]
			clear(a.big)
		}
	}
}

// key returns the attempt's hash key.
func (a *Attempt) key() []byte {
	if a.long != nil {
		return a.long
	}
	return a.keyBuf[:a.keyLen]
}

func (a *Attempt) bits() []uint64 {
	if len(a.big) > 0 {
		return a.big
	}
	return a.small[:]
}

func (a *Attempt) tried(i int) bool {
	return a.bits()[i/64]&(1<<(uint(i)%64)) != 0
}

func (a *Attempt) setTried(i int) {
	a.bits()[i/64] |= 1 << (uint(i) % 64)
}

// Tried reports whether peer i was already returned by Next in this attempt.
func (a *Attempt) Tried(i int) bool {
	if i < 0 || i >= a.n {
		return false
	}
	return a.tried(i)
}

// Begin starts a for a selection algorithm outside this package over n peers, with hash key
// key (copied, as by Start): no peer tried, no pick made. Such an algorithm records each peer
// it returns with Mark. An Attempt begun this way cannot be passed to Table.Next.
func (a *Attempt) Begin(n int, key []byte) { a.begin(nil, n, key) }

// Key returns the hash key given to Start or Begin. It is valid until the next Start or Begin.
func (a *Attempt) Key() []byte { return a.key() }

// Mark records that peer i was returned: it is tried, and counts as one pick.
func (a *Attempt) Mark(i int) {
	if i < 0 || i >= a.n {
		return
	}
	a.setTried(i)
	a.picks++
}

// Picks returns the number of peers returned so far in this attempt.
func (a *Attempt) Picks() int { return a.picks }

// Start begins the selection for one connection with hash key key, e.g. the bytes of
// AppendRemoteAddr. Start copies key, so the caller may reuse its buffer (a key built in a
// stack buffer stays there); it does not allocate for keys up to 64 bytes and up to 256
// peers.
func (t *Table) Start(a *Attempt, key []byte) {
	a.reset(t, key)
	switch t.mode {
	case Consistent:
		// ngx_stream_upstream_init_chash_peer: the first point >= crc32(key).
		a.hash = t.findPoint(crcUpdate(0, key))
	case IPHash:
		a.hash = ipHashSeed
	}
}

// Next returns the index of the next peer to try, or -1 when none is left (nginx's "no live
// upstreams"). The returned peer is marked tried in a. Call it once per connect attempt: like
// nginx, which allows as many attempts as there are peers (pc->tries), Next returns -1 after
// len(Peers()) peers. Next panics if a was not started by t.
func (t *Table) Next(a *Attempt, h Health) int {
	if a.t != t {
		panic("hashing: Next on an Attempt not started by this Table")
	}
	if a.picks >= len(t.peers) {
		return -1
	}
	var p int
	switch t.mode {
	case Consistent:
		p = t.nextConsistent(a, h)
	case IPHash:
		p = t.nextIPHash(a, h)
	default:
		p = t.nextPlain(a, h)
	}
	if p >= 0 {
		a.setTried(p)
		a.picks++
	}
	return p
}

// Lookup returns the peer a new connection with key gets on its first try: Start and Next
// once, on a private Attempt. Like a real connection, it advances the shared round-robin
// counters when it chooses among several usable peers of one server name (or falls back to
// round robin), so a later connection may then get another address of that name.
func (t *Table) Lookup(key []byte, h Health) int {
	var a Attempt
	t.Start(&a, key)
	return t.Next(&a, h)
}

// usable reports whether a peer in state s may be chosen by the hash or by round robin
// over several peers: not down, not failed, not full.
func usable(s State) bool { return s == Usable }
