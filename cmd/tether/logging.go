package main

import (
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"
)

// logFlags are the logging flags every serving command takes.
type logFlags struct {
	level  string
	format string
}

func (lf *logFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&lf.level, "log-level", "info", "log level: debug, info, warn, error")
	fs.StringVar(&lf.format, "log-format", "json", "log format: json (one object per line) or text")
}

// logger builds the process logger: JSON lines by default, so the access log (one "tunnel
// closed" line per tunnel) can be shipped as is.
func (lf *logFlags) logger(w io.Writer) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(lf.level)); err != nil {
		return nil, fmt.Errorf("-log-level %q: want debug, info, warn or error", lf.level)
	}
	opts := &slog.HandlerOptions{Level: level, ReplaceAttr: durationsAsText}
	switch strings.ToLower(lf.format) {
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("-log-format %q: want json or text", lf.format)
}

// durationsAsText writes durations as Go spells them ("30s", "1.5ms"), not as the integer
// nanoseconds the JSON handler would: an operator reads "drain_timeout":"30s" at a glance.
func durationsAsText(_ []string, a slog.Attr) slog.Attr {
	if a.Value.Kind() == slog.KindDuration {
		return slog.String(a.Key, a.Value.Duration().String())
	}
	return a
}
