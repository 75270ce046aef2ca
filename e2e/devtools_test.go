package e2e

import (
	"encoding/json"
	"fmt"
	"net"
	"time"

	"github.com/tether-proxy/tether/internal/websocket"
)

// devtools is a minimal client of the Chrome DevTools Protocol
// (https://chromedevtools.github.io/devtools-protocol/): JSON-RPC-like calls, each with an id
// the answer repeats, over the WebSocket of one page target. Events are read and dropped.
type devtools struct {
	ws   *websocket.Conn
	next int
}

// dialDevtools connects to a target's webSocketDebuggerUrl on the browser at addr.
func dialDevtools(addr, wsURL string) (*devtools, error) {
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return nil, fmt.Errorf("dial devtools: %w", err)
	}
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	ws, _, err := websocket.Client(conn, wsURL, nil)
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("devtools handshake: %w", err)
	}
	_ = conn.SetDeadline(time.Time{})
	return &devtools{ws: ws}, nil
}

// call invokes method with params and decodes the answer's result into result (may be nil).
// It gives up after limit.
func (d *devtools) call(method string, params any, result any, limit time.Duration) error {
	d.next++
	id := d.next
	req, err := json.Marshal(map[string]any{"id": id, "method": method, "params": params})
	if err != nil {
		return err
	}
	_ = d.ws.NetConn().SetDeadline(time.Now().Add(limit))
	defer d.ws.NetConn().SetDeadline(time.Time{})
	if err := d.ws.WriteMessage(websocket.OpText, req); err != nil {
		return fmt.Errorf("devtools %s: %w", method, err)
	}
	for {
		_, msg, err := d.ws.ReadMessage()
		if err != nil {
			return fmt.Errorf("devtools %s: %w", method, err)
		}
		var answer struct {
			ID     int             `json:"id"`
			Result json.RawMessage `json:"result"`
			Error  *struct {
				Code    int    `json:"code"`
				Message string `json:"message"`
			} `json:"error"`
		}
		if err := json.Unmarshal(msg, &answer); err != nil {
			return fmt.Errorf("devtools %s: bad message %q: %w", method, msg, err)
		}
		if answer.ID != id {
			continue // an event, or the answer to an abandoned call
		}
		if answer.Error != nil {
			return fmt.Errorf("devtools %s: error %d: %s", method, answer.Error.Code, answer.Error.Message)
		}
		if result == nil {
			return nil
		}
		if err := json.Unmarshal(answer.Result, result); err != nil {
			return fmt.Errorf("devtools %s: result %s: %w", method, answer.Result, err)
		}
		return nil
	}
}

// evaluate runs a JavaScript expression in the page (Runtime.evaluate), waits for it if it is
// a promise, and decodes its value into v. It reports false when the value is undefined.
func (d *devtools) evaluate(expression string, v any, limit time.Duration) (bool, error) {
	var out struct {
		Result struct {
			Type  string          `json:"type"`
			Value json.RawMessage `json:"value"`
		} `json:"result"`
		ExceptionDetails *struct {
			Text      string `json:"text"`
			Exception *struct {
				Description string `json:"description"`
			} `json:"exception"`
		} `json:"exceptionDetails"`
	}
	params := map[string]any{"expression": expression, "awaitPromise": true, "returnByValue": true}
	if err := d.call("Runtime.evaluate", params, &out, limit); err != nil {
		return false, err
	}
	if e := out.ExceptionDetails; e != nil {
		if e.Exception != nil {
			return false, fmt.Errorf("page threw: %s", e.Exception.Description)
		}
		return false, fmt.Errorf("page threw: %s", e.Text)
	}
	if out.Result.Type == "undefined" {
		return false, nil
	}
	return true, json.Unmarshal(out.Result.Value, v)
}

// close closes the connection.
func (d *devtools) close() { _ = d.ws.NetConn().Close() }
