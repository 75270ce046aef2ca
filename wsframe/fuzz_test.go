package wsframe

import "testing"

// FuzzTrackerSplit feeds arbitrary bytes, as a server's stream (response head first) and as a
// client's, once whole and once cut at the points cuts gives, with Skip standing in for the
// payload a splice would move past the tracker. Properties: no panic, and the tracker ends in
// the same state however the stream was cut and whether payload was fed or skipped (a proxy
// may read any amount at a time). FuzzFrameTracker in internal/websocket checks the frames
// themselves against the project's RFC 6455 reader.
func FuzzTrackerSplit(f *testing.F) {
	// The seed corpus lives in testdata/fuzz/FuzzTrackerSplit.
	f.Fuzz(func(t *testing.T, data, cuts []byte) {
		for _, role := range []Role{FromServer, FromClient} {
			var whole, split Tracker
			whole.Reset(role)
			whole.Feed(data)
			split.Reset(role)
			rest := data
			for i := 0; len(rest) > 0; i++ {
				n := len(rest)
				if i < len(cuts) {
					n = min(n, 1+int(cuts[i]))
				}
				if lim := split.SpliceLimit(); lim > 0 && i%2 == 1 {
					k := int(min(int64(n), lim))
					split.Skip(int64(k))
					split.Feed(rest[k:n])
				} else {
					split.Feed(rest[:n])
				}
				rest = rest[n:]
			}
			if whole != split {
				t.Fatalf("role %d: whole %+v, cut %+v", role, whole, split)
			}
		}
	})
}
