package admin

import (
	"crypto/subtle"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strings"
)

// guard lets a state-changing request (any method but GET and HEAD: /reload, /drain,
// /undrain) through only when no web page can have made a browser send it:
//
//   - its Host is the address the admin listener was reached on, localhost, or a name in
//     Options.Hosts (against DNS rebinding, where an attacker's name resolves to the admin
//     address and the browser then calls it same-origin);
//   - it is not a cross-origin browser request: Sec-Fetch-Site, or else Origin, must say the
//     page is the admin address itself (http.CrossOriginProtection); a request without either
//     header comes from curl or a script, not from a page;
//   - with Options.Token set, it carries "Authorization: Bearer TOKEN".
//
// The first two are refused with 403, the third with 401. GET and HEAD pass untouched.
type guard struct {
	next  http.Handler
	log   *slog.Logger
	hosts []string // lower case, without port
	token string
	cop   *http.CrossOriginProtection
}

func newGuard(next http.Handler, log *slog.Logger, opts Options) *guard {
	g := &guard{next: next, log: log, token: opts.Token, cop: http.NewCrossOriginProtection()}
	for _, h := range opts.Hosts {
		g.hosts = append(g.hosts, strings.TrimSuffix(strings.ToLower(h), "."))
	}
	return g
}

func (g *guard) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if req.Method == http.MethodGet || req.Method == http.MethodHead {
		g.next.ServeHTTP(w, req)
		return
	}
	if !g.hostAllowed(req) {
		g.refuse(w, req, http.StatusForbidden, "Host is not the admin address, localhost or a name in [admin] hosts")
		return
	}
	if err := g.cop.Check(req); err != nil {
		g.refuse(w, req, http.StatusForbidden, "cross-origin request")
		return
	}
	if g.token != "" && !g.tokenOK(req.Header.Get("Authorization")) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="tether admin"`)
		g.refuse(w, req, http.StatusUnauthorized, "missing or wrong bearer token ([admin] token_file)")
		return
	}
	g.next.ServeHTTP(w, req)
}

// hostAllowed reports whether the request's Host names the admin listener: the local address
// the connection arrived on (an IP literal), localhost, or a configured name.
func (g *guard) hostAllowed(req *http.Request) bool {
	host := req.Host
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.ToLower(strings.Trim(host, "[]")), ".")
	if host == "localhost" || slices.Contains(g.hosts, host) {
		return true
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return false
	}
	local, _ := req.Context().Value(http.LocalAddrContextKey).(net.Addr)
	if local == nil {
		return false
	}
	lap, err := netip.ParseAddrPort(local.String())
	return err == nil && lap.Addr().Unmap() == ip.Unmap()
}

// tokenOK compares the Authorization header with the token in constant time.
func (g *guard) tokenOK(auth string) bool {
	scheme, cred, ok := strings.Cut(auth, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(strings.TrimSpace(cred)), []byte(g.token)) == 1
}

func (g *guard) refuse(w http.ResponseWriter, req *http.Request, code int, why string) {
	g.log.Warn("admin request refused", "method", req.Method, "path", req.URL.Path, "remote", req.RemoteAddr,
		"host", req.Host, "origin", req.Header.Get("Origin"), "reason", why)
	reply(w, code, map[string]any{"ok": false, "error": why})
}
