//go:build linux

package e2e

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"
)

// logEntry is one JSON line of tether's log: the fields the tests look at.
type logEntry struct {
	Msg      string `json:"msg"`
	Listener string `json:"listener"`
	Client   string `json:"client"`
	Reason   string `json:"reason"`
	Err      string `json:"err"`
	Status   int    `json:"status"`
	Backend  string `json:"backend"`
}

func (e logEntry) String() string {
	s := fmt.Sprintf("%q", e.Msg)
	if e.Reason != "" {
		s += fmt.Sprintf(" reason=%q", e.Reason)
	}
	if e.Status != 0 {
		s += fmt.Sprintf(" status=%d", e.Status)
	}
	if e.Err != "" {
		s += fmt.Sprintf(" err=%q", e.Err)
	}
	return s
}

// logSince parses the JSON lines tether printed after the first offset bytes of its output.
func logSince(c *child, offset int) []logEntry {
	var out []logEntry
	for line := range strings.Lines(c.output()[offset:]) {
		var e logEntry
		if strings.HasPrefix(line, "{") && json.Unmarshal([]byte(line), &e) == nil {
			out = append(out, e)
		}
	}
	return out
}

// waitLog waits (up to limit) until tether printed, after offset, a line that match accepts,
// and returns it; what describes the line for the failure message.
func waitLog(t testing.TB, c *child, offset int, what string, match func(logEntry) bool, limit time.Duration) logEntry {
	t.Helper()
	var found logEntry
	err := c.waitUntil(what, func(string) bool {
		for _, e := range logSince(c, offset) {
			if match(e) {
				found = e
				return true
			}
		}
		return false
	}, limit)
	if err != nil {
		t.Fatal(err)
	}
	return found
}

// clientLog waits for tether's line msg about the connection from client (its host:port).
func clientLog(t testing.TB, c *child, offset int, client, msg string) logEntry {
	t.Helper()
	return waitLog(t, c, offset, fmt.Sprintf("%q for client %s", msg, client), func(e logEntry) bool {
		return e.Client == client && strings.HasPrefix(e.Msg, msg)
	}, 15*time.Second)
}
