package conf

import (
	"strconv"
	"strings"
)

// Both are errors.
var (
	_ error = Problem{}
	_ error = Problems(nil)
)

// Problem is one thing wrong with a configuration file.
type Problem struct {
	// File is the configuration file name as given to [Load] or [Parse].
	File string
	// Line is the 1-based line the problem is about; 0 when the problem is
	// about the document as a whole (e.g. no listeners at all).
	Line int
	// Key is the full key path, e.g. "listeners[0].tls.cert" or
	// `upstreams."my app".servers[2]`; empty for syntax errors.
	Key string
	// Msg says what is wrong and, where possible, how to fix it.
	Msg string

	err error // underlying error, if any (e.g. from os.Open)
}

// Error formats the problem as "file:line: key: message", leaving out the
// parts that are unknown.
func (p Problem) Error() string {
	var b strings.Builder
	switch {
	case p.File != "" && p.Line > 0:
		b.WriteString(p.File)
		b.WriteByte(':')
		b.WriteString(strconv.Itoa(p.Line))
	case p.File != "":
		b.WriteString(p.File)
	case p.Line > 0:
		b.WriteString("line ")
		b.WriteString(strconv.Itoa(p.Line))
	}
	if p.Key != "" {
		if b.Len() > 0 {
			b.WriteString(": ")
		}
		b.WriteString(p.Key)
	}
	if b.Len() > 0 {
		b.WriteString(": ")
	}
	b.WriteString(p.Msg)
	return b.String()
}

// Unwrap returns the underlying error (such as an *fs.PathError), if any.
func (p Problem) Unwrap() error { return p.err }

// Problems is every problem found in a configuration file, in file order.
// [Load] and [Parse] never return an empty Problems.
type Problems []Problem

// Error lists the problems, one per line.
func (ps Problems) Error() string {
	var b strings.Builder
	for i, p := range ps {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(p.Error())
	}
	return b.String()
}

// Unwrap returns the individual problems, so that errors.Is and errors.As
// see each of them (and their underlying errors).
func (ps Problems) Unwrap() []error {
	errs := make([]error, len(ps))
	for i, p := range ps {
		errs[i] = p
	}
	return errs
}
