package preamble

import "strconv"

// Reject is a refusal of a request head with an HTTP status. It implements
// error; use [errors.As] to find it and [Reject.Response] to answer the
// client before closing the connection.
//
// Rejects returned by this package are shared values and must not be
// modified.
type Reject struct {
	// Status is the HTTP status code. Zero is sent as 400 Bad Request.
	Status int
	// Reason is a short human-readable explanation, sent as the body. Empty
	// means the standard status text.
	Reason string
	// Header holds extra response header lines, each terminated by CRLF
	// (for example "Sec-WebSocket-Version: 13\r\n"). Empty means none.
	Header string
}

var _ error = (*Reject)(nil)

// Error returns "preamble: <status> <status text>: <reason>".
func (r *Reject) Error() string {
	return "preamble: " + strconv.Itoa(r.status()) + " " + StatusText(r.status()) + ": " + r.reason()
}

// Response returns the complete HTTP/1.1 response to send before closing the
// connection: the status line, Content-Type: text/plain; charset=utf-8,
// Content-Length, Connection: close, the extra Header lines, an empty line,
// and the body Reason + "\n". A Header not ending in a line break gets CRLF.
func (r *Reject) Response() []byte {
	status := r.status()
	body := r.reason() + "\n"
	b := make([]byte, 0, 128+len(r.Header)+len(body))
	b = append(b, "HTTP/1.1 "...)
	b = strconv.AppendInt(b, int64(status), 10)
	b = append(b, ' ')
	b = append(b, StatusText(status)...)
	b = append(b, "\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: "...)
	b = strconv.AppendInt(b, int64(len(body)), 10)
	b = append(b, "\r\nConnection: close\r\n"...)
	if r.Header != "" {
		b = append(b, r.Header...)
		if r.Header[len(r.Header)-1] != '\n' {
			b = append(b, "\r\n"...)
		}
	}
	b = append(b, "\r\n"...)
	return append(b, body...)
}

func (r *Reject) status() int {
	if r.Status == 0 {
		return 400
	}
	return r.Status
}

func (r *Reject) reason() string {
	if r.Reason == "" {
		return StatusText(r.status())
	}
	return r.Reason
}

// StatusText returns the RFC 9110 section 15 reason phrase for the status
// codes a proxy refusing a request may send, and "Error" for any other code.
// (net/http.StatusText is not used to keep net/http out of this package.)
func StatusText(code int) string {
	switch code {
	case 400:
		return "Bad Request"
	case 403:
		return "Forbidden"
	case 404:
		return "Not Found"
	case 405:
		return "Method Not Allowed"
	case 408:
		return "Request Timeout"
	case 421:
		return "Misdirected Request"
	case 426:
		return "Upgrade Required"
	case 429:
		return "Too Many Requests"
	case 431:
		return "Request Header Fields Too Large"
	case 500:
		return "Internal Server Error"
	case 502:
		return "Bad Gateway"
	case 503:
		return "Service Unavailable"
	case 504:
		return "Gateway Timeout"
	case 505:
		return "HTTP Version Not Supported"
	}
	return "Error"
}

func badRequest(reason string) *Reject { return &Reject{Status: 400, Reason: reason} }

// Refusals while reading and parsing (RFC 9112).
var (
	errTooLarge     = badRequest("request head too large") // nginx answers 400 too (ngx_http_request.c)
	errTruncated    = badRequest("connection closed in the middle of the request head")
	errTimeout      = &Reject{Status: 408, Reason: "timed out reading the request head"}
	errCTL          = badRequest("control character in request head")
	errBareCR       = badRequest("bare CR in request head")
	errEmptyLines   = badRequest("too many empty lines before the request line")
	errMethod       = badRequest("invalid request method")
	errRequestLine  = badRequest("malformed request line")
	errEmptyTarget  = badRequest("empty request target")
	errTargetChar   = badRequest("invalid character in request target")
	errNoVersion    = badRequest("missing HTTP version (HTTP/0.9 is not supported)")
	errVersion      = badRequest("unsupported HTTP version")
	errVersionMajor = &Reject{Status: 505, Reason: "only HTTP/1.0 and HTTP/1.1 are supported"}
	errLeadingWS    = badRequest("whitespace before the first header field")
	errObsFold      = badRequest("obsolete line folding in header field")
	errFieldName    = badRequest("invalid header field name")
	errNoColon      = badRequest("header field without colon")
	errSpaceColon   = badRequest("whitespace between header field name and colon")
	errTooMany      = badRequest("too many header fields")
	errNoHost       = badRequest("missing Host header field")
	errMultipleHost = badRequest("more than one Host header field")
	errInvalidHost  = badRequest("invalid Host header field")
	errNotWebSocket = &Reject{Status: 426, Reason: "WebSocket upgrade required", Header: "Upgrade: websocket\r\nConnection: Upgrade\r\n"}
	errWSMethod     = badRequest("WebSocket handshake must use GET")
	errWSProto      = badRequest("WebSocket handshake must use HTTP/1.1")
	errWSConnection = badRequest("WebSocket handshake without Connection: Upgrade")
	errWSKey        = badRequest("missing or invalid Sec-WebSocket-Key")
	errWSVersion    = &Reject{Status: 426, Reason: "unsupported Sec-WebSocket-Version", Header: "Sec-WebSocket-Version: 13\r\n"}
)
