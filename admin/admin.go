// Package admin serves tether's admin HTTP endpoints: health, configuration reload, metrics,
// the status page, the backend drain API and, when enabled, Go's profiling handlers. It
// listens on loopback unless the configuration says otherwise; nothing in it is on the data
// path.
package admin

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/pprof"
	"net/url"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"github.com/tether-proxy/tether/listener"
)

// Target is what the admin endpoints act on: the running proxy.
type Target interface {
	// Reload re-reads and applies the configuration, as SIGHUP does.
	Reload(ctx context.Context) error
	// WriteMetrics writes the proxy's metrics in the Prometheus text format.
	WriteMetrics(w io.Writer)
	// Status is a snapshot of the listeners and backends.
	Status() listener.Status
	// Drain and Undrain start and end a backend drain (see listener.Server.Drain; a negative
	// spread means the configured drain_spread).
	Drain(upstream, target string, deadline, spread time.Duration) (int, error)
	Undrain(upstream, target string) (int, error)
}

// Options are the optional admin endpoints and protections; the zero value serves none of the
// optional endpoints and asks no token.
type Options struct {
	// Pprof mounts Go's net/http/pprof handlers under /debug/pprof/ ([admin] pprof = true).
	Pprof bool
	// Hosts are the names a state-changing request's Host may carry besides the address it
	// arrived on and localhost ([admin] hosts); nil allows no other name.
	Hosts []string
	// Token, when not empty, must come as "Authorization: Bearer TOKEN" with every
	// state-changing request ([admin] token_file); empty asks none.
	Token string
	// Version and Started describe the process on the status page (empty and zero: unknown).
	Version string
	Started time.Time
	// History, when not nil, is the recorder whose last samples the status page draws; nil
	// shows no history.
	History *Recorder
}

// Handler returns the admin endpoints:
//
//	GET  /healthz      200 "ok" while the process serves
//	POST /reload       re-read the configuration file; {"ok":true} or 400 with the reason
//	GET  /metrics      Prometheus text format: tether's metrics and the process's (CPU, memory, fds)
//	GET  /status       the status page (HTML, no external assets, refreshes itself)
//	GET  /status.json  the data behind it
//	POST /drain?upstream=U&server=S[&deadline=30s][&spread=5s]
//	                   no new clients for S; the tunnels open at the deadline are closed evenly over
//	                   spread (default: the configuration's drain_spread)
//	POST /undrain?upstream=U&server=S
//
// and, with opts.Pprof, net/http/pprof's index, profiles and trace under /debug/pprof/
// (e.g. GET /debug/pprof/profile?seconds=10 for a CPU profile).
//
// The POST endpoints refuse what a web page could make a browser send (see guard).
func Handler(t Target, log *slog.Logger, opts Options) http.Handler {
	mux := http.NewServeMux()
	if opts.Pprof {
		mountPprof(mux)
	}
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		t.WriteMetrics(w)
		metrics.WriteProcessMetrics(w)
	})
	mux.HandleFunc("POST /reload", func(w http.ResponseWriter, req *http.Request) {
		ctx, cancel := context.WithTimeout(req.Context(), time.Minute)
		defer cancel()
		if err := t.Reload(ctx); err != nil {
			reply(w, http.StatusBadRequest, map[string]any{"ok": false, "error": err.Error()})
			return
		}
		reply(w, http.StatusOK, map[string]any{"ok": true})
	})
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Content-Security-Policy", "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'")
		w.Write(statusPage)
	})
	mux.HandleFunc("GET /status.json", func(w http.ResponseWriter, _ *http.Request) {
		now := time.Now()
		reply(w, http.StatusOK, statusDoc{Status: t.Status(), Time: now,
			Process: readProcess(opts.Version, opts.Started, now), History: opts.History.history()})
	})
	mux.HandleFunc("POST /drain", func(w http.ResponseWriter, req *http.Request) {
		q := req.URL.Query()
		deadline, err := durationParam(q, "deadline", 0)
		if err != nil {
			reply(w, http.StatusBadRequest, map[string]any{"ok": false, "error": err.Error()})
			return
		}
		spread, err := durationParam(q, "spread", -1) // -1: the configured drain_spread
		if err != nil {
			reply(w, http.StatusBadRequest, map[string]any{"ok": false, "error": err.Error()})
			return
		}
		n, err := t.Drain(q.Get("upstream"), q.Get("server"), deadline, spread)
		drainReply(w, log, "drain", q.Get("upstream"), q.Get("server"), n, err)
	})
	mux.HandleFunc("POST /undrain", func(w http.ResponseWriter, req *http.Request) {
		q := req.URL.Query()
		n, err := t.Undrain(q.Get("upstream"), q.Get("server"))
		drainReply(w, log, "undrain", q.Get("upstream"), q.Get("server"), n, err)
	})
	return newGuard(mux, log, opts)
}

// mountPprof serves net/http/pprof on mux (not on http.DefaultServeMux, where importing the
// package registers it too and where nothing of tether listens). pprof.Index also serves the
// named runtime profiles: /debug/pprof/heap, goroutine, allocs, block, mutex, threadcreate.
func mountPprof(mux *http.ServeMux) {
	mux.HandleFunc("GET /debug/pprof/", pprof.Index)
	mux.HandleFunc("GET /debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("POST /debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
}

func drainReply(w http.ResponseWriter, log *slog.Logger, what, up, server string, n int, err error) {
	if err != nil {
		reply(w, http.StatusBadRequest, map[string]any{"ok": false, "error": err.Error()})
		return
	}
	log.Info("backend "+what, "upstream", up, "server", server, "peers", n)
	reply(w, http.StatusOK, map[string]any{"ok": true, "peers": n})
}

func reply(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}

// durationParam reads the non-negative duration query parameter name, or dflt when it is absent.
func durationParam(q url.Values, name string, dflt time.Duration) (time.Duration, error) {
	s := q.Get(name)
	if s == "" {
		return dflt, nil
	}
	v, err := time.ParseDuration(s)
	if err != nil || v < 0 {
		return 0, fmt.Errorf("%s: want a duration such as 30s", name)
	}
	return v, nil
}
