package e2e

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"
)

// browserSetup is tether in front of the browser test's two origins: the page's
// (https://127.0.0.1:PAGE/, a static file server) and the API's (https://localhost:API/,
// corsAPI), both TLS listeners with preamble "http" and hash-consistent.
type browserSetup struct {
	tether  *child
	pageURL string // the page, with the API's host:port in its query
	page    string // the page's origin
	apiHost string // the API's host:port, another origin
	apiVia  string // the tether listener of the API
	apiAddr string // the API's own address
	api     *corsAPI
	dir     string // holds cert.pem and key.pem
}

// startBrowserSetup starts the two backends and tether in front of them.
func startBrowserSetup(t testing.TB) *browserSetup {
	t.Helper()
	page, err := os.ReadFile("testdata/page.html")
	if err != nil {
		t.Fatal(err)
	}
	s := &browserSetup{dir: t.TempDir(), api: &corsAPI{}}
	testCert(t, s.dir)
	siteAddr := serveHTTP(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		_, _ = w.Write(page)
	}))
	s.apiAddr = serveHTTP(t, s.api)
	var ports []int
	s.tether, ports, _ = startTether(t, s.dir, 2, func(ports []int) string {
		return fmt.Sprintf(`
[[listeners]]
name = "page"
listen = "127.0.0.1:%d"
upstream = "site"
preamble = "http"
  [listeners.tls]
  cert = "cert.pem"
  key = "key.pem"

[[listeners]]
name = "api"
listen = "127.0.0.1:%d"
upstream = "api"
preamble = "http"
  [listeners.tls]
  cert = "cert.pem"
  key = "key.pem"

[upstreams.site]
balance = "hash-consistent"
servers = [%q]

[upstreams.api]
balance = "hash-consistent"
servers = [%q]
`, ports[0], ports[1], siteAddr, s.apiAddr)
	})
	s.page = fmt.Sprintf("https://127.0.0.1:%d", ports[0])
	s.apiHost = fmt.Sprintf("localhost:%d", ports[1])
	s.apiVia = fmt.Sprintf("127.0.0.1:%d", ports[1])
	s.pageURL = s.page + "/?api=" + s.apiHost
	s.api.allow(s.page)
	return s
}

// pageResult is what page.html's window.testResult resolves to.
type pageResult struct {
	Origin      string       `json:"origin"`
	API         string       `json:"api"`
	Errors      []string     `json:"errors"`
	Simple      *fetchResult `json:"simple"`
	Preflighted *fetchResult `json:"preflighted"`
	NoCORS      string       `json:"nocors"`
	Echoes      []struct {
		Length int    `json:"length"`
		Same   bool   `json:"same"`
		Head   string `json:"head"`
	} `json:"echoes"`
}

// fetchResult is one cross-origin fetch() as the page saw it.
type fetchResult struct {
	Status  int               `json:"status"`
	Backend string            `json:"backend"` // X-Backend, readable only when exposed
	Body    map[string]string `json:"body"`
}

// TestBrowserCrossOriginWSS has headless Chromium load a page through tether over HTTPS from
// one origin (https://127.0.0.1:PAGE) and talk to an API on another origin
// (https://localhost:API), also behind tether: a credentialed fetch(), a preflighted one, and a
// wss:// WebSocket echo. The browser enforces CORS, so the page can read the answers only if
// the API's CORS headers came through; a response without them must stay blocked. The test
// reads the page's result over the DevTools protocol, takes a screenshot, and checks that the
// API's answers through tether are byte-for-byte the ones it sends directly.
func TestBrowserCrossOriginWSS(t *testing.T) {
	require(t, chromium)
	s := startBrowserSetup(t)
	d := startChromium(t)

	// The viewport, not the window (which includes the browser's own bars), sizes screenshots.
	metrics := map[string]any{"width": windowWidth, "height": windowHeight, "deviceScaleFactor": 1, "mobile": false}
	if err := d.call("Emulation.setDeviceMetricsOverride", metrics, nil, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	var nav struct {
		ErrorText string `json:"errorText"`
	}
	if err := d.call("Page.navigate", map[string]string{"url": s.pageURL}, &nav, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	if nav.ErrorText != "" {
		t.Fatalf("navigating to %s: %s", s.pageURL, nav.ErrorText)
	}
	var res pageResult
	expr := fmt.Sprintf("location.href === %q ? window.testResult : undefined", s.pageURL)
	deadline := time.Now().Add(30 * time.Second)
	for {
		ok, err := d.evaluate(expr, &res, 30*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the page at %s never produced its result", s.pageURL)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if b, err := json.Marshal(res); err == nil {
		t.Logf("page result: %s", b)
	}
	checkPageResult(t, s, res)
	checkAPISaw(t, s)
	checkScreenshot(t, d)
	checkCORSPassThrough(t, s)
	out := s.tether.output()
	for _, l := range []string{"page", "api"} {
		if !strings.Contains(out, `"listener":"`+l+`"`) {
			t.Errorf("tether logged no tunnel on listener %s", l)
		}
	}
	if strings.Contains(out, `"msg":"connection rejected"`) {
		t.Error("tether rejected a connection")
	}
}

// checkPageResult checks what the page reports.
func checkPageResult(t *testing.T, s *browserSetup, res pageResult) {
	t.Helper()
	if len(res.Errors) > 0 {
		t.Errorf("the page failed: %v", res.Errors)
	}
	if res.Origin != s.page || res.API != s.apiHost {
		t.Errorf("page origin %q, API %q; want %q and %q", res.Origin, res.API, s.page, s.apiHost)
	}
	wantFetch := map[string]struct {
		got  *fetchResult
		body map[string]string
	}{
		"credentialed GET": {res.Simple, map[string]string{"method": "GET", "origin": s.page, "testHeader": "", "body": ""}},
		"preflighted PUT":  {res.Preflighted, map[string]string{"method": "PUT", "origin": s.page, "testHeader": "42", "body": `{"hello":"tether"}`}},
	}
	for name, w := range wantFetch {
		switch {
		case w.got == nil:
			t.Errorf("%s: no result", name)
		case w.got.Status != http.StatusOK || w.got.Backend != "api" || !maps.Equal(w.got.Body, w.body):
			t.Errorf("%s: status %d, X-Backend %q, body %v; want 200, \"api\", %v", name, w.got.Status, w.got.Backend, w.got.Body, w.body)
		}
	}
	if res.NoCORS != "blocked" {
		t.Errorf("a response without CORS headers was %q, want blocked: the browser does not check CORS here", res.NoCORS)
	}
	wantLengths := []int{20, 12, 70000} // UTF-16 code units, as JavaScript counts
	if len(res.Echoes) != len(wantLengths) {
		t.Fatalf("page got %d echoes, want %d", len(res.Echoes), len(wantLengths))
	}
	for i, e := range res.Echoes {
		if !e.Same || e.Length != wantLengths[i] {
			t.Errorf("echo %d: same=%v, %d chars (want %d)", i, e.Same, e.Length, wantLengths[i])
		}
	}
}

// checkAPISaw checks the requests the API received through tether: a CORS preflight for the
// PUT and a WebSocket upgrade, both from the page's origin.
func checkAPISaw(t *testing.T, s *browserSetup) {
	t.Helper()
	var preflight, upgrade bool
	for _, r := range s.api.requests() {
		if r.Origin != s.page {
			t.Errorf("API saw %s %s from origin %q, want %q", r.Method, r.Path, r.Origin, s.page)
		}
		preflight = preflight || (r.Method == http.MethodOptions && r.RequestMethod == http.MethodPut &&
			strings.Contains(strings.ToLower(r.RequestHeaders), "x-tether-test"))
		upgrade = upgrade || (r.Path == "/ws" && r.Upgrade)
	}
	if !preflight || !upgrade {
		t.Errorf("API saw a preflight: %v, a WebSocket upgrade: %v; want both (%+v)", preflight, upgrade, s.api.requests())
	}
}
