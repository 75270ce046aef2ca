// Package admin serves tether's admin HTTP endpoints: health, configuration reload, and (as
// they are added) metrics, the status page and the backend drain API. It listens on loopback
// unless the configuration says otherwise.
package admin

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"time"
)

// Reloader re-reads and applies the configuration, as SIGHUP does.
type Reloader interface {
	Reload(ctx context.Context) error
}

// Handler returns the admin endpoints:
//
//	GET  /healthz  200 "ok" while the process serves
//	POST /reload   re-read the configuration file; 200 with {"ok":true} or 400/500 with the reason
func Handler(r Reloader, log *slog.Logger) http.Handler {
	mux := http.NewServeMux()
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
