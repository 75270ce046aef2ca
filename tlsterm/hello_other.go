//go:build unix && !linux

package tlsterm

// queuedBytes reports the receive queue as unknown off Linux: the wait ends once the first
// record's header has arrived.
func queuedBytes(int) int { return 1 << 30 }
