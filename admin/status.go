package admin

import (
	_ "embed"
	"time"

	"github.com/tether-proxy/tether/listener"
)

// statusDoc is /status.json: the listeners, backends and engine, the process, and the
// recorded history, with the time it was taken (the page computes rates between two).
type statusDoc struct {
	listener.Status
	Time    time.Time     `json:"time"`
	Process processStatus `json:"process"`
	History *historyDoc   `json:"history,omitempty"`
}

// statusPage is the self-contained status page (no external assets): it fetches /status.json
// every two seconds and renders the process (version, uptime, memory, open files against the
// limit, goroutines, event loops), sparklines of the last 15 minutes' active and new
// connections, the listeners (connection and byte rates, refusals by reason) and one table
// per upstream (state, active tunnels, rates, ring share, health) with drain and undrain
// buttons that call the admin API after a confirmation.
//
//go:embed status.html
var statusPage []byte
