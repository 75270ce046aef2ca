package preamble

import "strings"

// head joins lines with CRLF and ends the head with an empty line.
func head(lines ...string) string { return strings.Join(lines, "\r\n") + "\r\n\r\n" }

// Real-world request heads.
var (
	// chromeUpgrade is a WebSocket opening handshake as Chrome sends it.
	chromeUpgrade = head(
		"GET /chat?room=42&token=s3cr%2Ft HTTP/1.1",
		"Host: ws.example.com",
		"Connection: Upgrade",
		"Pragma: no-cache",
		"Cache-Control: no-cache",
		"User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
		"Upgrade: websocket",
		"Origin: https://www.example.com",
		"Sec-WebSocket-Version: 13",
		"Accept-Encoding: gzip, deflate, br, zstd",
		"Accept-Language: en-US,en;q=0.9",
		"Cookie: _ga=GA1.1.123456789.1700000000; session=abc123; theme=\"dark\"",
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
		"Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits",
	)

	// firefoxUpgrade is a WebSocket opening handshake as Firefox sends it.
	firefoxUpgrade = head(
		"GET /socket.io/?EIO=4&transport=websocket&sid=Xy3_kmQ HTTP/1.1",
		"Host: localhost:3000",
		"User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0",
		"Accept: */*",
		"Accept-Language: en-US,en;q=0.5",
		"Accept-Encoding: gzip, deflate, br",
		"Sec-WebSocket-Version: 13",
		"Origin: http://localhost:3000",
		"Sec-WebSocket-Extensions: permessage-deflate",
		"Sec-WebSocket-Key: x3JJHMbDL1EzLkh9GBhXDw==",
		"Connection: keep-alive, Upgrade",
		"Sec-Fetch-Dest: empty",
		"Sec-Fetch-Mode: websocket",
		"Sec-Fetch-Site: same-origin",
		"Pragma: no-cache",
		"Cache-Control: no-cache",
		"Upgrade: websocket",
	)

	// socketioPoll is a Socket.io long-polling handshake GET.
	socketioPoll = head(
		"GET /socket.io/?EIO=4&transport=polling&t=N8hyd6w HTTP/1.1",
		"Host: localhost:3000",
		"Connection: keep-alive",
		"sec-ch-ua-platform: \"Linux\"",
		"User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
		"Accept: */*",
		"Referer: http://localhost:3000/",
		"Accept-Encoding: gzip, deflate, br, zstd",
		"Accept-Language: en-US,en;q=0.9",
	)

	// socketioPostBody is the body of socketioPost.
	socketioPostBody = `40{"token":"abc"}`

	// socketioPost is a Socket.io long-polling POST with its body.
	socketioPost = head(
		"POST /socket.io/?EIO=4&transport=polling&t=N8hyd7x&sid=Xy3_kmQ HTTP/1.1",
		"Host: localhost:3000",
		"Connection: keep-alive",
		"Content-Length: 16",
		"Content-type: text/plain;charset=UTF-8",
		"Accept: */*",
		"Origin: http://localhost:3000",
	) + socketioPostBody
)

// wsHead is a minimal valid WebSocket handshake with extra lines appended.
func wsHead(lines ...string) string {
	return head(append([]string{"GET /ws HTTP/1.1", "Host: example.com"}, lines...)...)
}

// Lines of a minimal WebSocket handshake.
const (
	upLine   = "Upgrade: websocket"
	connLine = "Connection: Upgrade"
	keyLine  = "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ=="
	verLine  = "Sec-WebSocket-Version: 13"
)
