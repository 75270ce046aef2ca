package main

import (
	"os"
	"strings"
	"testing"
)

// TestUsageCommentMatchesHelp: the package comment of main.go lists every command with the
// same synopsis as `tether help` (issue 15: the comment had drifted from the usage text).
func TestUsageCommentMatchesHelp(t *testing.T) {
	src, err := os.ReadFile("main.go")
	if err != nil {
		t.Fatal(err)
	}
	comment, _, _ := strings.Cut(string(src), "package main")
	synopsis := func(line string) string { // "tether diff [-n N] OLD NEW   what it does" -> the command part
		line = strings.TrimSpace(line)
		if i := strings.Index(line, "  "); i > 0 {
			line = line[:i]
		}
		return line
	}
	var want, got []string
	for _, l := range strings.Split(usage, "\n") {
		if strings.HasPrefix(l, "  tether ") {
			want = append(want, synopsis(l))
		}
	}
	for _, l := range strings.Split(comment, "\n") {
		if strings.HasPrefix(l, "//\ttether ") {
			got = append(got, synopsis(strings.TrimPrefix(l, "//")))
		}
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("main.go's comment lists\n%s\n`tether help` lists\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
