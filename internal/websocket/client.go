package websocket

import (
	"bufio"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
)

// reservedClientHeaders are set by Client itself; extraHeader may not set
// them (RFC 6455 section 4.1 fixes their values; no extensions or
// subprotocols are negotiated).
var reservedClientHeaders = []string{
	"Upgrade", "Connection", "Sec-Websocket-Key", "Sec-Websocket-Version",
	"Sec-Websocket-Extensions", "Sec-Websocket-Protocol",
}

// Client performs the client side of the opening handshake (RFC 6455
// section 4.1) over conn, which the caller has already dialled (plain TCP,
// or TLS for wss) and whose deadlines bound the handshake. From rawURL
// ("ws://host/path" or "wss://host/path", http and https are accepted too)
// only the host, path and query are used. extraHeader, which may be nil,
// adds request headers such as Origin; a Host entry replaces the URL's host.
//
// On success the returned Conn owns conn. On failure the error wraps
// ErrBadHandshake (or the I/O error), the response is returned if one was
// read (its body still readable from conn), and conn is left open for the
// caller to close.
func Client(conn net.Conn, rawURL string, extraHeader http.Header) (*Conn, *http.Response, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, nil, fmt.Errorf("websocket: parse URL: %w", err)
	}
	switch u.Scheme {
	case "ws", "wss", "http", "https":
	default:
		return nil, nil, fmt.Errorf("websocket: URL %q: scheme must be ws or wss", rawURL)
	}
	host := u.Host
	extra := make(http.Header, len(extraHeader))
	for k, vs := range extraHeader {
		ck := http.CanonicalHeaderKey(k)
		switch {
		case !isToken(k):
			return nil, nil, fmt.Errorf("websocket: invalid header name %q", k)
		case slices.Contains(reservedClientHeaders, ck):
			return nil, nil, fmt.Errorf("websocket: extraHeader may not set %s", ck)
		case ck == "Host":
			if len(vs) > 0 {
				host = vs[0]
			}
		default:
			extra[ck] = append(extra[ck], vs...)
		}
	}
	if host == "" || strings.ContainsAny(host, "\r\n") {
		return nil, nil, fmt.Errorf("websocket: URL %q: missing or invalid host %q", rawURL, host)
	}

	// RFC 6455 section 4.1, item 7: a random 16-byte nonce, base64-encoded.
	var nonce [16]byte
	_, _ = rand.Read(nonce[:])
	key := base64.StdEncoding.EncodeToString(nonce[:])

	var b strings.Builder
	b.WriteString("GET " + u.RequestURI() + " HTTP/1.1\r\n")
	b.WriteString("Host: " + host + "\r\n")
	b.WriteString("Upgrade: websocket\r\n")
	b.WriteString("Connection: Upgrade\r\n")
	b.WriteString("Sec-WebSocket-Key: " + key + "\r\n")
	b.WriteString("Sec-WebSocket-Version: " + supportedVersion + "\r\n")
	if err := extra.Write(&b); err != nil { // values have CR/LF replaced by spaces
		return nil, nil, fmt.Errorf("websocket: encode headers: %w", err)
	}
	b.WriteString("\r\n")
	if _, err := conn.Write([]byte(b.String())); err != nil {
		return nil, nil, fmt.Errorf("websocket: write handshake to %s: %w", conn.RemoteAddr(), err)
	}

	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, &http.Request{Method: http.MethodGet, URL: u})
	if err != nil {
		return nil, nil, fmt.Errorf("websocket: read handshake response from %s: %w", conn.RemoteAddr(), err)
	}
	if err := checkUpgradeResponse(resp, key); err != nil {
		return nil, resp, err
	}
	// br may already hold frames the server sent right after its response.
	return newConn(conn, br, true), resp, nil
}

// checkUpgradeResponse validates the server's handshake response as RFC 6455
// section 4.1 ("the client MUST validate the server's response") requires.
func checkUpgradeResponse(resp *http.Response, key string) error {
	h := resp.Header
	switch {
	case resp.StatusCode != http.StatusSwitchingProtocols:
		// Item 1: anything but 101 is handled per HTTP, i.e. a failure here.
		return fmt.Errorf("%w: server answered %q", ErrBadHandshake, resp.Status)
	case !headerHasToken(h, "Upgrade", "websocket"):
		return fmt.Errorf("%w: response lacks Upgrade: websocket (RFC 6455 section 4.1, item 2)", ErrBadHandshake)
	case !headerHasToken(h, "Connection", "upgrade"):
		return fmt.Errorf("%w: response lacks Connection: Upgrade (RFC 6455 section 4.1, item 3)", ErrBadHandshake)
	case strings.TrimSpace(h.Get("Sec-WebSocket-Accept")) != computeAccept(key):
		return fmt.Errorf("%w: wrong Sec-WebSocket-Accept (RFC 6455 section 4.1, item 4)", ErrBadHandshake)
	case h.Get("Sec-WebSocket-Extensions") != "":
		return fmt.Errorf("%w: server selected an extension we did not offer (RFC 6455 section 4.1, item 5)", ErrBadHandshake)
	case h.Get("Sec-WebSocket-Protocol") != "":
		return fmt.Errorf("%w: server selected a subprotocol we did not offer (RFC 6455 section 4.1, item 6)", ErrBadHandshake)
	}
	return nil
}
