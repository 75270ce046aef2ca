//go:build linux

package e2e

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
)

// soakResult is what one soak run measured.
type soakResult struct {
	shards, perShard int
	hold             time.Duration
	ramp             time.Duration // until every client had opened all its tunnels
	held, lost       int           // tunnels open (and verified) at the end of the hold, and lost
	echoes, bytes    int64         // echoes verified byte for byte, and their payload bytes
	tethers          []tetherFigures
}

// tetherFigures is what one tether process of a run looked like.
type tetherFigures struct {
	before, after processSample
	during        []processSample // every 5s while holding
	closed        int             // "tunnel closed" log lines
	reasons       map[string]int  // their reasons
}

// problems lists how the run broke what a soak must hold: every tether served the same
// tunnels all along, its goroutines and RSS stayed flat while holding, and it logged every
// tunnel's end. The allowed drift: goroutines by goroutineDrift (the event loop runs none per
// tunnel; one goroutine leaked per sampled echo, 450 a round, shows at once);
// RSS by rssDrift of the first sample plus rssSlack: the garbage of the sampled echoes piles
// up between collections (the runtime forces one at least every 2 minutes), so a healthy
// process's RSS creeps by a few percent, while keeping one 16 KiB TLS record buffer per echo
// would add over 150 MiB in two minutes.
func (r soakResult) problems() []string {
	var out []string
	closed := 0
	for k, f := range r.tethers {
		closed += f.closed
		if len(f.during) == 0 {
			out = append(out, fmt.Sprintf("tether %d: no sample while holding", k+1))
			continue
		}
		first := f.during[0]
		// Connection workers that served the ramp-up retire after a quiet moment, so the
		// count may fall; it must never rise above its lowest point so far by more than the
		// drift, and the last sample must be far below one goroutine per tunnel.
		lo := first.Goroutines
		for _, s := range f.during {
			lo = min(lo, s.Goroutines)
			if s.Goroutines > lo+goroutineDrift {
				out = append(out, fmt.Sprintf("tether %d: goroutines grew from %d to %d while holding (allowed: %d)", k+1, lo, s.Goroutines, goroutineDrift))
				break
			}
		}
		if last := f.during[len(f.during)-1]; last.Goroutines > goroutineDrift+r.perShard/100 {
			out = append(out, fmt.Sprintf("tether %d: %d goroutines for %d idle tunnels, want no goroutine per tunnel", k+1, last.Goroutines, r.perShard))
		}
		limit := int64(float64(first.RSS)*(1+rssDrift)) + rssSlack
		for _, s := range f.during {
			if s.RSS > limit {
				out = append(out, fmt.Sprintf("tether %d: RSS grew from %.1f to %.1f MiB while holding (allowed: %.1f MiB)", k+1, mib(first.RSS), mib(s.RSS), mib(limit)))
				break
			}
			if s.Active != first.Active {
				out = append(out, fmt.Sprintf("tether %d: served %d connections, then %d, while holding", k+1, first.Active, s.Active))
				break
			}
		}
		if r.shards > 1 && first.Active == 0 {
			out = append(out, fmt.Sprintf("tether %d of %d sharing the port got no connection", k+1, r.shards))
		}
	}
	if closed != r.shards*r.perShard {
		out = append(out, fmt.Sprintf("tether logged %d tunnels closed, want %d", closed, r.shards*r.perShard))
	}
	return out
}

// goroutines returns the fewest and most goroutines seen while holding.
func (f tetherFigures) goroutines() (lo, hi int) {
	lo, hi = f.during[0].Goroutines, f.during[0].Goroutines
	for _, s := range f.during {
		lo, hi = min(lo, s.Goroutines), max(hi, s.Goroutines)
	}
	return lo, hi
}

func (r soakResult) String() string {
	var b strings.Builder
	total := r.shards * r.perShard
	fmt.Fprintf(&b, "soak: %d TLS WebSocket tunnels through %d tether process(es) on one port, held %v:\n", total, r.shards, r.hold)
	fmt.Fprintf(&b, "  ramp-up %v (200 opening at a time); held %d, lost %d; %d echoes verified byte for byte (%d bytes)\n",
		r.ramp.Round(100*time.Millisecond), r.held, r.lost, r.echoes, r.bytes)
	fmt.Fprintf(&b, "  flat means: goroutines within %d, RSS within +%.0f%% + %d MiB of the first sample while holding\n",
		goroutineDrift, 100*rssDrift, rssSlack>>20)
	for k, f := range r.tethers {
		if len(f.during) == 0 {
			fmt.Fprintf(&b, "  tether %d: no sample while holding\n", k+1)
			continue
		}
		first, last := f.during[0], f.during[len(f.during)-1]
		lo, hi := f.goroutines()
		peak := first.RSS
		for _, s := range f.during {
			peak = max(peak, s.RSS)
		}
		tunnels := max(first.Active, 1)
		fmt.Fprintf(&b, "  tether %d: %d tunnels, %d samples while holding\n", k+1, first.Active, len(f.during))
		fmt.Fprintf(&b, "    goroutines before %d, while holding %d..%d, after %d\n", f.before.Goroutines, lo, hi, f.after.Goroutines)
		fmt.Fprintf(&b, "    RSS before %.1f MiB, while holding %.1f first, %.1f last, %.1f peak (%+.1f%%), after %.1f MiB; %.1f KiB per tunnel\n",
			mib(f.before.RSS), mib(first.RSS), mib(last.RSS), mib(peak), 100*float64(peak-first.RSS)/float64(first.RSS), mib(f.after.RSS),
			float64(first.RSS-f.before.RSS)/1024/float64(tunnels))
		fmt.Fprintf(&b, "    fds before %d, while holding %d, after %d; threads while holding %d\n",
			f.before.Sockets+f.before.Pipes+f.before.OtherFDs, first.Sockets+first.Pipes+first.OtherFDs,
			f.after.Sockets+f.after.Pipes+f.after.OtherFDs, first.Threads)
		var reasons []string
		for _, reason := range slices.Sorted(maps.Keys(f.reasons)) {
			reasons = append(reasons, fmt.Sprintf("%s %d", reason, f.reasons[reason]))
		}
		fmt.Fprintf(&b, "    tunnels closed (log): %d: %s\n", f.closed, strings.Join(reasons, ", "))
	}
	return b.String()
}
