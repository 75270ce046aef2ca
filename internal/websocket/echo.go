package websocket

import (
	_ "embed"
	"errors"
	"html/template"
	"io"
	"log/slog"
	"net/http"
)

//go:embed echo_page.html
var echoPageSource string

// echoPage is the demo page; it has no external assets.
var echoPage = template.Must(template.New("echo").Parse(echoPageSource))

// EchoHandler returns an http.Handler for a demo backend called name:
//
//   - a WebSocket upgrade request (any path, normally /ws) is upgraded; the
//     backend first sends the text message "hello from <name>, you are
//     <client address as seen by the backend>", then echoes every data
//     message back unchanged (same opcode) until the client closes;
//   - GET /whoami answers "<name>\n" as text/plain;
//   - GET / serves a small self-contained HTML page that opens a WebSocket to
//     the same origin at /ws (wss: when the page came over https:), sends a
//     message every second and shows the echoes and the backend's name;
//   - /ws without an upgrade gets 426, other paths 404.
//
// logger may be nil, which discards logs; connections are logged at debug
// level.
func EchoHandler(name string, logger *slog.Logger) http.Handler {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	logger = logger.With("backend", name)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case IsUpgradeRequest(r) || r.URL.Path == "/ws":
			serveEcho(w, r, name, logger)
		case r.URL.Path == "/whoami" && isGetOrHead(r):
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			_, _ = io.WriteString(w, name+"\n")
		case r.URL.Path == "/" && isGetOrHead(r):
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			w.Header().Set("Cache-Control", "no-store")
			if err := echoPage.Execute(w, struct{ Name string }{name}); err != nil {
				logger.Debug("write demo page", "remote", r.RemoteAddr, "err", err)
			}
		case r.URL.Path == "/" || r.URL.Path == "/whoami":
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		default:
			http.NotFound(w, r)
		}
	})
}

// isGetOrHead reports whether r is a GET or HEAD request.
func isGetOrHead(r *http.Request) bool {
	return r.Method == http.MethodGet || r.Method == http.MethodHead
}

// serveEcho upgrades r and echoes messages until the connection ends.
func serveEcho(w http.ResponseWriter, r *http.Request, name string, logger *slog.Logger) {
	c, err := Upgrade(w, r)
	if err != nil {
		logger.Debug("websocket upgrade rejected", "remote", r.RemoteAddr, "err", err)
		return
	}
	defer func() { _ = c.Close() }()
	logger.Debug("websocket open", "remote", r.RemoteAddr, "path", r.URL.Path)
	if err := c.WriteMessage(OpText, []byte("hello from "+name+", you are "+r.RemoteAddr)); err != nil {
		logger.Debug("websocket write", "remote", r.RemoteAddr, "err", err)
		return
	}
	messages := 0
	for {
		op, p, err := c.ReadMessage()
		if err != nil {
			code, reason, _ := c.PeerClose()
			if errors.Is(err, io.EOF) {
				err = nil
			}
			logger.Debug("websocket closed", "remote", r.RemoteAddr, "messages", messages,
				"code", code, "reason", reason, "err", err)
			return
		}
		messages++
		if err := c.WriteMessage(op, p); err != nil {
			logger.Debug("websocket write", "remote", r.RemoteAddr, "err", err)
			return
		}
	}
}
