package websocket

import (
	"fmt"
	"net/http"
	"time"
)

// IsUpgradeRequest reports whether r asks for a WebSocket upgrade (an
// Upgrade header naming "websocket"); it does not validate the rest.
func IsUpgradeRequest(r *http.Request) bool {
	return headerHasToken(r.Header, "Upgrade", "websocket")
}

// Upgrade completes the server side of the opening handshake for a request
// reaching an http.Handler. It validates the request as RFC 6455 section
// 4.2.1 requires (GET, HTTP/1.1 or later, Host, Upgrade: websocket,
// Connection: Upgrade, a Sec-WebSocket-Key of 16 base64 bytes, version 13),
// answers 101 Switching Protocols with Sec-WebSocket-Accept (section 4.2.2),
// and hijacks the connection, which the returned Conn then owns. No
// subprotocol or extension is selected.
//
// On a bad request it writes an error response and returns an error
// wrapping ErrBadHandshake: 426 Upgrade Required with Sec-WebSocket-Version:
// 13 when the request is not a WebSocket upgrade or asks for another version
// (section 4.4), 400 Bad Request otherwise (section 4.2.2). Deadlines set by
// the http.Server are cleared.
func Upgrade(w http.ResponseWriter, r *http.Request) (*Conn, error) {
	if status, reason := checkUpgradeRequest(r); status != 0 {
		if status == http.StatusUpgradeRequired {
			w.Header().Set("Upgrade", "websocket")
			w.Header().Set("Connection", "Upgrade")
			w.Header().Set("Sec-WebSocket-Version", supportedVersion)
		}
		http.Error(w, reason, status)
		return nil, fmt.Errorf("%w: %s", ErrBadHandshake, reason)
	}
	accept := computeAccept(r.Header.Get("Sec-WebSocket-Key"))

	netConn, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		http.Error(w, "websocket: connection cannot be hijacked", http.StatusInternalServerError)
		return nil, fmt.Errorf("websocket: hijack: %w", err)
	}
	_ = netConn.SetDeadline(time.Time{})
	resp := "HTTP/1.1 101 Switching Protocols\r\n" +
		"Upgrade: websocket\r\n" +
		"Connection: Upgrade\r\n" +
		"Sec-WebSocket-Accept: " + accept + "\r\n\r\n"
	if _, err := netConn.Write([]byte(resp)); err != nil {
		_ = netConn.Close()
		return nil, fmt.Errorf("websocket: write handshake response to %s: %w", netConn.RemoteAddr(), err)
	}
	// brw.Reader may already hold frames the client sent after its request.
	return newConn(netConn, brw.Reader, false), nil
}

// checkUpgradeRequest validates the client's opening handshake (RFC 6455
// section 4.2.1). It returns 0 if valid, else the status to answer with.
func checkUpgradeRequest(r *http.Request) (status int, reason string) {
	h := r.Header
	switch {
	case !headerHasToken(h, "Upgrade", "websocket"):
		// Item 3. 426 tells a plain HTTP client which upgrade to use.
		return http.StatusUpgradeRequired, "WebSocket upgrade required (Upgrade: websocket)"
	case r.Method != http.MethodGet:
		return http.StatusBadRequest, "WebSocket handshake must use GET (RFC 6455 section 4.2.1, item 1)"
	case !r.ProtoAtLeast(1, 1):
		return http.StatusBadRequest, "WebSocket handshake needs HTTP/1.1 or later (RFC 6455 section 4.2.1, item 1)"
	case r.Host == "":
		return http.StatusBadRequest, "WebSocket handshake needs a Host header (RFC 6455 section 4.2.1, item 2)"
	case !headerHasToken(h, "Connection", "upgrade"):
		return http.StatusBadRequest, "WebSocket handshake needs Connection: Upgrade (RFC 6455 section 4.2.1, item 4)"
	case len(h.Values("Sec-WebSocket-Key")) != 1 || !validKey(h.Get("Sec-WebSocket-Key")):
		return http.StatusBadRequest, "WebSocket handshake needs one Sec-WebSocket-Key of 16 base64-encoded bytes (RFC 6455 section 4.2.1, item 5)"
	case h.Get("Sec-WebSocket-Version") != supportedVersion:
		// Item 6 and section 4.4: answer 426 with the versions we speak.
		return http.StatusUpgradeRequired, "unsupported Sec-WebSocket-Version, use 13 (RFC 6455 section 4.4)"
	}
	return 0, ""
}
