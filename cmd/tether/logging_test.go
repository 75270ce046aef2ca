package main

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

// TestLogDurationsAsText pins one of issue 10's smaller defects: JSON log lines spelled
// durations as integer nanoseconds ("drain_timeout":30000000000). They read as Go spells them.
func TestLogDurationsAsText(t *testing.T) {
	for _, format := range []string{"json", "text"} {
		var out bytes.Buffer
		log, err := (&logFlags{level: "info", format: format}).logger(&out)
		if err != nil {
			t.Fatal(err)
		}
		log.Info("shutting down", "drain_timeout", 30*time.Second, "took", 1500*time.Microsecond)
		for _, want := range map[string][]string{
			"json": {`"drain_timeout":"30s"`, `"took":"1.5ms"`},
			"text": {`drain_timeout=30s`, `took=1.5ms`},
		}[format] {
			if !strings.Contains(out.String(), want) {
				t.Errorf("%s log line %q lacks %s", format, out.String(), want)
			}
		}
	}
}
