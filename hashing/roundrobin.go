package hashing

// nextRoundRobin is ngx_stream_upstream_get_round_robin_peer as the hash balancers call it:
// with a single primary peer and no backup, that peer unless it is down or full (nginx does
// not look at failures there); otherwise smooth weighted round robin over the untried usable
// primary peers; when none is left, the same over the backup peers, for the rest of the
// attempt; when none of those is left either, -1.
func (t *Table) nextRoundRobin(a *Attempt, h Health) int {
	if !a.backup {
		if t.single {
			p := t.primary[0]
			if s := h.State(p); s == Usable || s == Failed {
				return p
			}
		} else if p := t.pick(a, h, t.primary); p >= 0 {
			return p
		}
		if len(t.backup) == 0 {
			return -1
		}
		a.backup = true
	}
	return t.pick(a, h, t.backup)
}
