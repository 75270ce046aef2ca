package preamble

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
)

func TestRejectResponse(t *testing.T) {
	for _, tc := range []struct {
		rej        *Reject
		status     int
		body       string
		wantHeader map[string]string
	}{
		{rej: errTooLarge, status: 400, body: "request head too large\n"},
		{rej: errTimeout, status: 408, body: "timed out reading the request head\n"},
		{rej: errNotWebSocket, status: 426, body: "WebSocket upgrade required\n",
			wantHeader: map[string]string{"Upgrade": "websocket", "Connection": "close"}},
		{rej: errWSVersion, status: 426, wantHeader: map[string]string{"Sec-WebSocket-Version": "13"}},
		{rej: errVersionMajor, status: 505},
		{rej: &Reject{}, status: 400, body: "Bad Request\n"},
		{rej: &Reject{Status: 503, Reason: "no backend", Header: "Retry-After: 5"}, status: 503, body: "no backend\n",
			wantHeader: map[string]string{"Retry-After": "5"}},
	} {
		t.Run(fmt.Sprint(tc.status, tc.rej.Reason), func(t *testing.T) {
			raw := tc.rej.Response()
			if !bytes.HasPrefix(raw, []byte("HTTP/1.1 ")) {
				t.Fatalf("response %q", raw)
			}
			// The standard library's client parser must accept it.
			resp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(raw)), nil)
			if err != nil {
				t.Fatalf("ReadResponse(%q): %v", raw, err)
			}
			body, err := io.ReadAll(resp.Body)
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tc.status || resp.Status != fmt.Sprint(tc.status, " ", http.StatusText(tc.status)) {
				t.Errorf("status %q, want %d %s", resp.Status, tc.status, http.StatusText(tc.status))
			}
			if tc.body != "" && string(body) != tc.body {
				t.Errorf("body %q, want %q", body, tc.body)
			}
			if !resp.Close || resp.Header.Get("Content-Type") != "text/plain; charset=utf-8" ||
				resp.ContentLength != int64(len(body)) {
				t.Errorf("close=%t type=%q length=%d", resp.Close, resp.Header.Get("Content-Type"), resp.ContentLength)
			}
			for k, v := range tc.wantHeader {
				if k == "Connection" {
					continue // consumed into resp.Close
				}
				if got := resp.Header.Get(k); got != v {
					t.Errorf("header %s = %q, want %q", k, got, v)
				}
			}
		})
	}
}

func TestRejectError(t *testing.T) {
	var err error = fmt.Errorf("conn 1: %w", errTooLarge)
	var rej *Reject
	if !errors.As(err, &rej) || rej.Status != 400 {
		t.Fatalf("errors.As: %v", err)
	}
	if got, want := rej.Error(), "preamble: 400 Bad Request: request head too large"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}

// TestStatusText compares with net/http for every code StatusText knows.
func TestStatusText(t *testing.T) {
	for code := 100; code < 600; code++ {
		if got := StatusText(code); got != "Error" && got != http.StatusText(code) {
			t.Errorf("StatusText(%d) = %q, net/http says %q", code, got, http.StatusText(code))
		}
	}
	if StatusText(999) != "Error" {
		t.Error("unknown code")
	}
	if !strings.Contains(StatusText(426), "Upgrade") {
		t.Error("426")
	}
}

func TestMode(t *testing.T) {
	for _, m := range []Mode{ModeHTTP, ModeWebSocket} {
		text, err := m.MarshalText()
		if err != nil {
			t.Fatal(err)
		}
		var back Mode
		if err := back.UnmarshalText(text); err != nil || back != m || m.String() != string(text) {
			t.Errorf("%v: round trip %q -> %v, %v", m, text, back, err)
		}
	}
	var m Mode
	if err := m.UnmarshalText([]byte("tcp")); err == nil {
		t.Error("UnmarshalText(tcp) succeeded")
	}
	if _, err := Mode(0).MarshalText(); err == nil {
		t.Error("MarshalText(0) succeeded")
	}
	if Mode(9).String() != "Mode(9)" {
		t.Error(Mode(9).String())
	}
}
