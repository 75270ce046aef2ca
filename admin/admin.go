// Package admin serves tether's admin HTTP endpoints: health, configuration reload, and (as
// they are added) metrics, the status page and the backend drain API. It listens on loopback
// unless the configuration says otherwise.
package admin

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/VictoriaMetrics/metrics"
)

// Target is what the admin endpoints act on: the running proxy.
type Target interface {
	// Reload re-reads and applies the configuration, as SIGHUP does.
	Reload(ctx context.Context) error
	// WriteMetrics writes the proxy's metrics in the Prometheus text format.
	WriteMetrics(w io.Writer)
}

// Handler returns the admin endpoints:
//
//	GET  /healthz  200 "ok" while the process serves
//	POST /reload   re-read the configuration file; 200 with {"ok":true} or 400 with the reason
//	GET  /metrics  Prometheus text format: tether's metrics and the process's (CPU, memory, fds)
func Handler(r Target, log *slog.Logger) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		r.WriteMetrics(w)
		metrics.WriteProcessMetrics(w)
	})
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("POST /reload", func(w http.ResponseWriter, req *http.Request) {
		ctx, cancel := context.WithTimeout(req.Context(), time.Minute)
		defer cancel()
		err := r.Reload(ctx)
		w.Header().Set("Content-Type", "application/json")
		if err != nil {
			w.WriteHeader(http.StatusBadRequest)
			json.NewEncoder(w).Encode(map[string]any{"ok": false, "error": err.Error()})
			return
		}
		json.NewEncoder(w).Encode(map[string]any{"ok": true})
	})
	return mux
}
