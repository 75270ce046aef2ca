package main

import (
	"strings"
	"testing"
)

// straceSample is `strace -c -f` output of strace 6.1, cut down.
const straceSample = `strace: Process 4242 attached with 3 threads
% time     seconds  usecs/call     calls    errors syscall
------ ----------- ----------- --------- --------- ----------------
 17.11    0.000324         162      3000           accept4
 15.52    0.000294           8      1500      1500 connect
 12.62    0.000239           6      4500           epoll_wait
  0.00    0.000000           0         2         2 statx
------ ----------- ----------- --------- --------- ----------------
100.00    0.001894           8      9002      1502 total
`

// TestParseStraceSummary pins the reading of strace's -c table: calls and errors per system
// call and the total, the errors column empty when nothing failed; a cut-off table or a
// garbled number is an error.
func TestParseStraceSummary(t *testing.T) {
	c, err := parseStraceSummary(straceSample)
	if err != nil {
		t.Fatal(err)
	}
	if c.Total != 9002 || c.Failed != 1502 || c.Calls["accept4"] != 3000 || c.Errors["accept4"] != 0 ||
		c.Calls["connect"] != 1500 || c.Errors["connect"] != 1500 || c.Calls["statx"] != 2 || len(c.Calls) != 4 {
		t.Errorf("parseStraceSummary = %+v", c)
	}
	for name, text := range map[string]string{
		"no total":    straceSample[:strings.Index(straceSample, "100.00")],
		"bad calls":   strings.Replace(straceSample, "3000", "3x00", 1),
		"bad errors":  strings.Replace(straceSample, "1500 connect", "-1 connect", 1),
		"empty input": "",
	} {
		if _, err := parseStraceSummary(text); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

// TestRenderBreakdown: the syscalls table lists each participant's system calls per
// connection, largest first, the small ones summed.
func TestRenderBreakdown(t *testing.T) {
	o := fakeOutcome(testByID(t, "syscalls"), map[string][]metrics{
		nameTether: {{mSyscalls: 20, syscallPrefix + "accept4": 1, syscallPrefix + "epoll_ctl": 4, syscallPrefix + "futex": 0.01, syscallPrefix + "getpid": 0.02}},
		nameNginx:  {{mSyscalls: 17, syscallPrefix + "accept4": 1}},
	})
	var b strings.Builder
	renderTable(&b, o)
	for _, want := range []string{"- **tether**: epoll_ctl 4.00, accept4 1.00, others 0.03\n", "- **nginx**: accept4 1.00\n", "| **tether** | 20.0 |"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("syscalls table lacks %q:\n%s", want, b.String())
		}
	}
	if strings.Contains(b.String(), "direct") {
		t.Errorf("syscalls table has a direct row:\n%s", b.String())
	}
}
