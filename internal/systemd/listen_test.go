//go:build unix

package systemd

import (
	"strings"
	"testing"
)

// TestParseListenEnv pins how the socket-activation variables are read (sd_listen_fds(3)):
// only for this pid, a count of descriptors, and one name per descriptor when names are given;
// anything else is an error naming the variable.
func TestParseListenEnv(t *testing.T) {
	const self = 4242
	tests := []struct {
		name, pid, fds, names string
		wantN                 int
		wantNames             []string
		wantErr               string
	}{
		// ---- as systemd sets them ----
		{"two named", "4242", "2", "web:admin", 2, []string{"web", "admin"}, ""},
		{"unnamed", "4242", "3", "", 3, []string{"", "", ""}, ""},
		{"none", "4242", "0", "", 0, []string{}, ""},
		{"empty names among them", "4242", "2", ":admin", 2, []string{"", "admin"}, ""},
		// ---- malformed ----
		{"no pid", "", "1", "", 0, nil, "LISTEN_FDS is set without LISTEN_PID"},
		{"another pid", "1", "1", "", 0, nil, "LISTEN_PID=1 is another process"},
		{"pid not a number", "self", "1", "", 0, nil, `LISTEN_PID="self": not a process id`},
		{"negative pid", "-4242", "1", "", 0, nil, "not a process id"},
		{"fds not a number", "4242", "two", "", 0, nil, `LISTEN_FDS="two": want a number`},
		{"fds negative", "4242", "-1", "", 0, nil, "LISTEN_FDS"},
		{"fds absurd", "4242", "100000", "", 0, nil, "from 0 to 1024"},
		{"fds missing", "4242", "", "", 0, nil, `LISTEN_FDS=""`},
		{"too many names", "4242", "1", "a:b", 0, nil, "LISTEN_FDNAMES has 2 names for LISTEN_FDS=1"},
		{"too few names", "4242", "3", "a:b", 0, nil, "LISTEN_FDNAMES has 2 names for LISTEN_FDS=3"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			n, names, err := ParseListenEnv(tc.pid, tc.fds, tc.names, self)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || n != tc.wantN || strings.Join(names, "|") != strings.Join(tc.wantNames, "|") || len(names) != n {
				t.Fatalf("= %d %q %v, want %d %q", n, names, err, tc.wantN, tc.wantNames)
			}
		})
	}
}

// FuzzParseListenEnv: any environment gives either an error or a count within bounds with
// exactly one name per descriptor, never a panic.
func FuzzParseListenEnv(f *testing.F) {
	f.Add("4242", "2", "web:admin")
	f.Add("4242", "0", "")
	f.Add("1", "1", "")
	f.Add("4242", "99999999999999999999", "")
	f.Add("4242", "3", "::")
	f.Fuzz(func(t *testing.T, pid, fds, names string) {
		n, got, err := ParseListenEnv(pid, fds, names, 4242)
		if err != nil {
			if n != 0 || got != nil {
				t.Fatalf("error %v with %d %q", err, n, got)
			}
			return
		}
		if n < 0 || n > maxListenFDs || len(got) != n {
			t.Fatalf("%d descriptors, %d names", n, len(got))
		}
	})
}
