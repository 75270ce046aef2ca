package conf

import (
	"sort"

	"github.com/BurntSushi/toml"
)

// lineIndex maps a key path (keyPath.String) to the 1-based line that
// defines it. BurntSushi/toml keeps key positions unexported, so the index
// is built by a small scanner over the source. The scanner only runs on
// documents toml already accepted, so it can be lenient about invalid
// input; it never panics and always makes progress.
type lineIndex map[string]int

// line returns the line of p, or of its nearest ancestor that has one,
// or 0.
func (ix lineIndex) line(p keyPath) int {
	for n := len(p); n > 0; n-- {
		if l, ok := ix[p[:n].String()]; ok {
			return l
		}
	}
	return 0
}

// indexLines scans a TOML document and records where every key, table,
// array-of-tables element and array element is defined: table headers
// ([a.b]), array-of-tables headers ([[a.b]], with element indices),
// dotted keys, inline tables and (multi-line) arrays. Strings, multi-line
// strings and comments are skipped.
func indexLines(src []byte) lineIndex {
	s := &lineScanner{
		src:      src,
		idx:      lineIndex{},
		explicit: map[string]bool{},
		arrays:   map[string]int{},
	}
	for i, c := range src {
		if c == '\n' {
			s.newlines = append(s.newlines, i)
		}
	}
	s.document()
	return s.idx
}

type lineScanner struct {
	src      []byte
	i        int
	newlines []int // offsets of '\n'
	idx      lineIndex
	explicit map[string]bool // paths defined by their own [header]
	arrays   map[string]int  // array-of-tables path -> elements so far
	cur      keyPath         // table the following key/values belong to
}

// lineAt converts a byte offset to a 1-based line.
func (s *lineScanner) lineAt(off int) int {
	return sort.SearchInts(s.newlines, off) + 1
}

func (s *lineScanner) eof() bool { return s.i >= len(s.src) }

func (s *lineScanner) peek(n int) byte {
	if s.i+n < len(s.src) {
		return s.src[s.i+n]
	}
	return 0
}

// record remembers the line of p unless a line is already known. An
// explicit [header] replaces a line recorded for an implicitly created
// super-table.
func (s *lineScanner) record(p keyPath, off int, explicit bool) {
	k := p.String()
	if _, ok := s.idx[k]; ok && (!explicit || s.explicit[k]) {
		return
	}
	s.idx[k] = s.lineAt(off)
	if explicit {
		s.explicit[k] = true
	}
}

// recordPrefixes records base+parts[:1], base+parts[:2], ... (dotted keys
// and headers implicitly define their super-tables).
func (s *lineScanner) recordPrefixes(base keyPath, parts []string, off int) keyPath {
	p := base
	for _, part := range parts {
		p = p.key(part)
		s.record(p, off, false)
	}
	return p
}

// skipSpace skips spaces and tabs.
func (s *lineScanner) skipSpace() {
	for !s.eof() && (s.src[s.i] == ' ' || s.src[s.i] == '\t') {
		s.i++
	}
}

// skipBlank skips whitespace, newlines and comments.
func (s *lineScanner) skipBlank() {
	for !s.eof() {
		switch s.src[s.i] {
		case ' ', '\t', '\r', '\n':
			s.i++
		case '#':
			s.skipLine()
		default:
			return
		}
	}
}

// skipLine moves to just after the next newline.
func (s *lineScanner) skipLine() {
	for !s.eof() {
		c := s.src[s.i]
		s.i++
		if c == '\n' {
			return
		}
	}
}

func (s *lineScanner) document() {
	for {
		s.skipBlank()
		if s.eof() {
			return
		}
		start := s.i
		if s.src[s.i] == '[' {
			aot := s.peek(1) == '['
			if aot {
				s.i += 2
			} else {
				s.i++
			}
			parts := s.keyParts()
			s.skipLine() // "]" or "]]", maybe a comment
			if len(parts) > 0 {
				s.header(parts, aot, start)
			}
			continue
		}
		parts := s.keyParts()
		s.skipSpace()
		if len(parts) == 0 || s.eof() || s.src[s.i] != '=' {
			if s.i == start {
				s.i++
			}
			continue
		}
		s.i++
		p := s.recordPrefixes(s.cur, parts, start)
		s.value(p)
		s.skipLine() // comment, or the time part of a date-time
	}
}

// header handles [parts] and [[parts]].
func (s *lineScanner) header(parts []string, aot bool, off int) {
	var p keyPath
	for i, part := range parts {
		p = p.key(part)
		last := i == len(parts)-1
		if last && aot {
			n := s.arrays[p.String()]
			s.arrays[p.String()] = n + 1
			s.record(p, off, false)
			p = p.index(n)
			s.record(p, off, true)
			break
		}
		if n, ok := s.arrays[p.String()]; ok && n > 0 {
			p = p.index(n - 1) // the array's last element so far
		}
		s.record(p, off, last)
	}
	s.cur = p
}

// keyParts reads a possibly dotted key: bare, "basic" or 'literal' parts.
func (s *lineScanner) keyParts() []string {
	var parts []string
	for {
		s.skipSpace()
		if s.eof() {
			return parts
		}
		var part string
		switch c := s.src[s.i]; {
		case c == '"' || c == '\'':
			start := s.i
			s.str()
			part = decodeKeyString(s.src[start:s.i])
		case isBareKeyByte(c):
			start := s.i
			for !s.eof() && isBareKeyByte(s.src[s.i]) {
				s.i++
			}
			part = string(s.src[start:s.i])
		default:
			return parts
		}
		parts = append(parts, part)
		s.skipSpace()
		if s.eof() || s.src[s.i] != '.' {
			return parts
		}
		s.i++
	}
}

// isBareKeyByte reports whether c can be part of a bare key. Bytes of
// multi-byte UTF-8 sequences are accepted too, to stay in step with TOML
// versions that allow Unicode bare keys.
func isBareKeyByte(c byte) bool {
	return c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' ||
		c == '_' || c == '-' || c >= 0x80
}

// decodeKeyString returns the key a quoted key token denotes.
func decodeKeyString(tok []byte) string {
	if len(tok) < 2 {
		return ""
	}
	inner := tok[1 : len(tok)-1]
	if tok[0] == '\'' {
		return string(inner)
	}
	for _, c := range inner {
		if c == '\\' {
			// Escapes are rare in keys; let toml itself decode them.
			var m map[string]string
			if _, err := toml.Decode("k = "+string(tok), &m); err == nil {
				return m["k"]
			}
			return string(inner)
		}
	}
	return string(inner)
}

// str skips a basic, literal or multi-line string starting at s.i.
func (s *lineScanner) str() {
	defer func() {
		if s.i > len(s.src) { // an escape at the very end
			s.i = len(s.src)
		}
	}()
	q := s.src[s.i]
	if s.peek(1) == q && s.peek(2) == q {
		s.i += 3
		for !s.eof() {
			c := s.src[s.i]
			switch {
			case c == '\\' && q == '"':
				s.i += 2
			case c == q && s.peek(1) == q && s.peek(2) == q:
				s.i += 3
				// Up to two more quotes belong to the content: """a"""""
				for n := 0; n < 2 && !s.eof() && s.src[s.i] == q; n++ {
					s.i++
				}
				return
			default:
				s.i++
			}
		}
		return
	}
	s.i++
	for !s.eof() {
		c := s.src[s.i]
		switch {
		case c == '\\' && q == '"':
			s.i += 2
		case c == q:
			s.i++
			return
		case c == '\n':
			return
		default:
			s.i++
		}
	}
}

// value skips the value starting at s.i, recording the keys of inline
// tables and the elements of arrays below p.
func (s *lineScanner) value(p keyPath) {
	s.skipSpace()
	if s.eof() {
		return
	}
	switch s.src[s.i] {
	case '"', '\'':
		s.str()
	case '[':
		s.i++
		s.array(p)
	case '{':
		s.i++
		s.inlineTable(p)
	default:
		start := s.i
		for !s.eof() {
			switch s.src[s.i] {
			case ' ', '\t', '\r', '\n', ',', ']', '}', '#':
				if s.i == start {
					s.i++ // never stall on a stray delimiter
				}
				return
			}
			s.i++
		}
	}
}

func (s *lineScanner) array(p keyPath) {
	n := 0
	for {
		s.skipBlank()
		if s.eof() {
			return
		}
		switch s.src[s.i] {
		case ']':
			s.i++
			return
		case ',':
			s.i++
			n++
			continue
		}
		e := p.index(n)
		s.record(e, s.i, false)
		s.value(e)
	}
}

func (s *lineScanner) inlineTable(p keyPath) {
	for {
		s.skipBlank()
		if s.eof() {
			return
		}
		switch s.src[s.i] {
		case '}':
			s.i++
			return
		case ',':
			s.i++
			continue
		}
		start := s.i
		parts := s.keyParts()
		s.skipSpace()
		if len(parts) == 0 || s.eof() || s.src[s.i] != '=' {
			if s.i == start {
				s.i++
			}
			continue
		}
		s.i++
		s.value(s.recordPrefixes(p, parts, start))
	}
}
