//go:build linux

package splice

// timerHeap is a binary min-heap of loop tunnels by due time: one entry per
// tunnel with a deadline, re-armed lazily (see loopTunnel.onTimer), so an
// idle tunnel costs no runtime timer at all.
type timerHeap []*loopTunnel

// set (re)schedules t at due.
func (h *timerHeap) set(t *loopTunnel, due int64) {
	t.due = due
	if t.hidx < 0 {
		t.hidx = len(*h)
		*h = append(*h, t)
		h.up(t.hidx)
		return
	}
	if !h.down(t.hidx) {
		h.up(t.hidx)
	}
}

// remove unschedules t (a no-op when it is not scheduled).
func (h *timerHeap) remove(t *loopTunnel) {
	i := t.hidx
	if i < 0 {
		return
	}
	last := len(*h) - 1
	if i != last {
		h.swap(i, last)
	}
	(*h)[last] = nil
	*h = (*h)[:last]
	t.hidx = -1
	if i != last {
		if !h.down(i) {
			h.up(i)
		}
	}
}

func (h timerHeap) swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].hidx, h[j].hidx = i, j
}

func (h timerHeap) up(i int) {
	for i > 0 {
		p := (i - 1) / 2
		if h[p].due <= h[i].due {
			return
		}
		h.swap(i, p)
		i = p
	}
}

// down sifts i down and reports whether it moved.
func (h timerHeap) down(i int) bool {
	start := i
	for {
		c := 2*i + 1
		if c >= len(h) {
			break
		}
		if r := c + 1; r < len(h) && h[r].due < h[c].due {
			c = r
		}
		if h[i].due <= h[c].due {
			break
		}
		h.swap(i, c)
		i = c
	}
	return i > start
}
