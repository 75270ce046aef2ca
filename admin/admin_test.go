package admin

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

type reloader struct {
	err   error
	calls int
}

func (r *reloader) Reload(context.Context) error { r.calls++; return r.err }

func (r *reloader) WriteMetrics(w io.Writer) { io.WriteString(w, "tether_test_metric 1\n") }

func TestHandler(t *testing.T) {
	tests := []struct {
		name, method, path string
		reloadErr          error
		wantCode           int
		wantBody           string
		wantCalls          int
	}{
		{"health", "GET", "/healthz", nil, 200, "ok", 0},
		{"reload ok", "POST", "/reload", nil, 200, `"ok":true`, 1},
		{"reload rejected", "POST", "/reload", errors.New("tether.toml:3: listeners[0].listen: bad"), 400, `listeners[0].listen`, 1},
		{"reload needs POST", "GET", "/reload", nil, 405, "", 0},
		{"metrics", "GET", "/metrics", nil, 200, "tether_test_metric 1", 0},
		{"process metrics", "GET", "/metrics", nil, 200, "process_resident_memory_bytes", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := &reloader{err: tc.reloadErr}
			srv := httptest.NewServer(Handler(r, slog.New(slog.NewTextHandler(io.Discard, nil))))
			defer srv.Close()
			req, _ := http.NewRequest(tc.method, srv.URL+tc.path, nil)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.wantCode || !strings.Contains(string(body), tc.wantBody) || r.calls != tc.wantCalls {
				t.Fatalf("%s %s: %d %q (reloads %d), want %d containing %q (reloads %d)",
					tc.method, tc.path, resp.StatusCode, body, r.calls, tc.wantCode, tc.wantBody, tc.wantCalls)
			}
		})
	}
}
