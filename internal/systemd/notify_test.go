package systemd

import (
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestWatchdog pins when tether pings the watchdog: half of WATCHDOG_USEC, only when
// WATCHDOG_PID is unset or this process, and an error for malformed values.
func TestWatchdog(t *testing.T) {
	self := strconv.Itoa(os.Getpid())
	tests := []struct {
		name, usec, pid string
		want            time.Duration
		wantErr         string
	}{
		{"unset", "", "", 0, ""},
		{"for us", "30000000", self, 15 * time.Second, ""},
		{"no pid", "2000000", "", time.Second, ""},
		{"another process's", "30000000", "1", 0, ""},
		{"usec not a number", "30s", "", 0, `WATCHDOG_USEC="30s"`},
		{"usec zero", "0", "", 0, "positive"},
		{"usec overflowing", "99999999999999999", "", 0, "positive"},
		{"pid not a number", "30000000", "me", 0, `WATCHDOG_PID="me"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("WATCHDOG_USEC", tc.usec)
			t.Setenv("WATCHDOG_PID", tc.pid)
			got, err := Watchdog()
			if (err != nil) != (tc.wantErr != "") || err != nil && !strings.Contains(err.Error(), tc.wantErr) || got != tc.want {
				t.Fatalf("Watchdog() = %v, %v; want %v, error containing %q", got, err, tc.want, tc.wantErr)
			}
		})
	}
}

// TestNotifierOrderAndNil: datagrams arrive one per Send, in order; Flush returns once they
// went; a nil Notifier (no NOTIFY_SOCKET) accepts every call.
func TestNotifierOrderAndNil(t *testing.T) {
	var none *Notifier
	none.Send("READY=1")
	none.Flush(time.Second)
	none.Close()
	t.Setenv("NOTIFY_SOCKET", "")
	if NewNotifier(slog.New(slog.NewTextHandler(io.Discard, nil))) != nil {
		t.Fatal("a Notifier without NOTIFY_SOCKET")
	}

	path := filepath.Join(t.TempDir(), "notify")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	t.Setenv("NOTIFY_SOCKET", path)
	n := NewNotifier(slog.New(slog.NewTextHandler(io.Discard, nil)))
	want := []string{"READY=1", Reloading(), "READY=1\nSTATUS=x", MainPID(7), "STOPPING=1"}
	for _, m := range want {
		n.Send(m)
	}
	n.Flush(5 * time.Second)
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	for i, w := range want {
		buf := make([]byte, 512)
		k, err := conn.Read(buf)
		if err != nil || string(buf[:k]) != w {
			t.Fatalf("datagram %d: %q, %v; want %q", i, buf[:k], err, w)
		}
	}
	n.Close()
	n.Send("after close") // dropped, no panic
}
