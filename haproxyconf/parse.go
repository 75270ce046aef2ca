package haproxyconf

import (
	"fmt"
	"strings"
)

// Line is one configuration line: its words after HAProxy's quoting and escaping rules.
type Line struct {
	File  string
	Line  int
	Words []string // never empty; Words[0] is the keyword
}

// Keyword returns the line's first word.
func (l *Line) Keyword() string { return l.Words[0] }

// Args returns the words after the keyword.
func (l *Line) Args() []string { return l.Words[1:] }

// String returns the line's words joined by spaces.
func (l *Line) String() string { return strings.Join(l.Words, " ") }

// Section is a section header (e.g. `backend app`) and the lines under it.
type Section struct {
	Header *Line
	Lines  []*Line
}

// Kind returns the section keyword: "global", "defaults", "frontend", "backend", "listen", ...
func (s *Section) Kind() string { return s.Header.Keyword() }

// Name returns the section's name ("" for global and an unnamed defaults).
func (s *Section) Name() string {
	if len(s.Header.Words) > 1 {
		return s.Header.Words[1]
	}
	return ""
}

// Config is a parsed configuration file.
type Config struct {
	File     string
	Sections []*Section
}

// SyntaxError is a line HAProxy would refuse to read.
type SyntaxError struct {
	File string
	Line int
	Msg  string
}

func (e *SyntaxError) Error() string { return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg) }

// sectionKinds are HAProxy 2.6's section keywords (cfg_register_section calls).
var sectionKinds = map[string]bool{
	"global": true, "defaults": true, "frontend": true, "backend": true, "listen": true,
	"peers": true, "userlist": true, "resolvers": true, "mailers": true, "program": true,
	"http-errors": true, "ring": true, "cache": true,
}

// named are the section kinds that need a name.
var named = map[string]bool{"frontend": true, "backend": true, "listen": true, "peers": true,
	"userlist": true, "resolvers": true, "mailers": true, "program": true, "http-errors": true,
	"ring": true, "cache": true}

// maxLine bounds a line, as HAProxy's LINESIZE (2048) does.
const maxLine = 2048

// Parse reads a configuration file. A line before any section, a section without a name that
// needs one, a name with characters HAProxy refuses, an unterminated quote, a NUL byte or a
// line longer than 2048 bytes is a *SyntaxError.
func Parse(file string, data []byte) (*Config, error) {
	c := &Config{File: file}
	var cur *Section
	for n, text := range strings.Split(string(data), "\n") {
		num := n + 1
		if len(text) > maxLine {
			return nil, &SyntaxError{file, num, fmt.Sprintf("line too long (more than %d bytes)", maxLine)}
		}
		words, err := splitLine(text)
		if err != nil {
			return nil, &SyntaxError{file, num, err.Error()}
		}
		if len(words) == 0 {
			continue
		}
		l := &Line{File: file, Line: num, Words: words}
		if sectionKinds[words[0]] {
			if err := checkHeader(l); err != nil {
				return nil, &SyntaxError{file, num, err.Error()}
			}
			cur = &Section{Header: l}
			c.Sections = append(c.Sections, cur)
			continue
		}
		if cur == nil {
			return nil, &SyntaxError{file, num, fmt.Sprintf("unknown keyword '%s' out of section", words[0])}
		}
		cur.Lines = append(cur.Lines, l)
	}
	return c, nil
}

// checkHeader applies HAProxy's rules to a section header's name (invalid_char in
// src/tools.c: letters, digits, '.', '-', '_' and ':').
func checkHeader(l *Line) error {
	kind := l.Keyword()
	if len(l.Words) < 2 {
		if named[kind] {
			return fmt.Errorf("'%s' expects <name> as an argument", kind)
		}
		return nil
	}
	if kind == "global" {
		return nil
	}
	name := l.Words[1]
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune(".-_:", r)) {
			return fmt.Errorf("character '%c' is not permitted in %s name '%s'", r, kind, name)
		}
	}
	return nil
}

// splitLine splits one line into words like HAProxy's parse_line: blanks separate words,
// "#" outside quotes ends the line, "\" escapes the next byte outside single quotes, double
// quotes group and allow escapes, single quotes group literally. Environment variables
// ("$VAR" in double quotes) are left as written.
func splitLine(text string) ([]string, error) {
	if strings.IndexByte(text, 0) >= 0 {
		return nil, fmt.Errorf("NUL character in line")
	}
	text = strings.TrimSuffix(text, "\r")
	var words []string
	var w strings.Builder
	inWord := false
	quote := byte(0)
	for i := 0; i < len(text); i++ {
		c := text[i]
		switch {
		case quote == '\'':
			if c == '\'' {
				quote = 0
				continue
			}
			w.WriteByte(c)
		case c == '\\' && i+1 < len(text):
			i++
			w.WriteByte(text[i])
			inWord = true
		case quote == '"':
			if c == '"' {
				quote = 0
				continue
			}
			w.WriteByte(c)
		case c == '"' || c == '\'':
			quote, inWord = c, true
		case c == ' ' || c == '\t':
			if inWord {
				words = append(words, w.String())
				w.Reset()
				inWord = false
			}
		case c == '#':
			if inWord {
				words = append(words, w.String())
			}
			return words, nil
		default:
			w.WriteByte(c)
			inWord = true
		}
	}
	if quote != 0 {
		return nil, fmt.Errorf("unmatched quote (%c)", quote)
	}
	if inWord {
		words = append(words, w.String())
	}
	return words, nil
}
