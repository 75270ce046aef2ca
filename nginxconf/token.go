package nginxconf

import "fmt"

// event is what the lexer found after a run of words: the end of a directive (";"), the start
// of a block ("{"), the end of a block ("}"), or the end of the file.
type event int

const (
	evDirective event = iota
	evBlockStart
	evBlockEnd
	evEOF
)

// lexer splits a configuration file into words exactly like ngx_conf_read_token
// (src/core/ngx_conf_file.c, nginx 1.22).
type lexer struct {
	file string
	data []byte
	pos  int
	line int // 1-based line of data[pos]
}

// SyntaxError is a configuration file nginx would refuse to read, with the position nginx
// would report.
type SyntaxError struct {
	File string
	Line int
	Msg  string
}

func (e *SyntaxError) Error() string { return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg) }

func (lx *lexer) errorf(format string, args ...any) error {
	return &SyntaxError{File: lx.file, Line: lx.line, Msg: fmt.Sprintf(format, args...)}
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }

// next reads the words of one directive and what ended them. line is the line of the first
// word (or of the "}" / end of file when there is none).
func (lx *lexer) next() (words []string, line int, ev event, err error) {
	var (
		needSpace    bool // after a closing quote: only whitespace, ";", "{" or ")" may follow
		lastSpace    = true
		sharpComment bool
		variable     bool // the previous byte was "$": a "{" belongs to the word ("${var}")
		quoted       bool // the previous byte was "\": skip this one
		sQuoted      bool
		dQuoted      bool
		start        int
	)
	line = lx.line
	for {
		if lx.pos >= len(lx.data) {
			if len(words) > 0 || !lastSpace {
				return nil, lx.line, 0, lx.errorf(`unexpected end of file, expecting ";" or "}"`)
			}
			return nil, lx.line, evEOF, nil
		}
		ch := lx.data[lx.pos]
		lx.pos++
		if ch == '\n' {
			lx.line++
			sharpComment = false
		}
		if sharpComment {
			continue
		}
		if quoted {
			quoted = false
			continue
		}
		if needSpace {
			switch {
			case isSpace(ch):
				lastSpace, needSpace = true, false
				continue
			case ch == ';':
				return words, line, evDirective, nil
			case ch == '{':
				return words, line, evBlockStart, nil
			case ch == ')':
				lastSpace, needSpace = true, false
			default:
				return nil, lx.line, 0, lx.errorf(`unexpected "%c"`, ch)
			}
		}
		if lastSpace {
			start = lx.pos - 1
			if isSpace(ch) {
				continue
			}
			if len(words) == 0 {
				line = lx.line
			}
			switch ch {
			case ';', '{':
				if len(words) == 0 {
					return nil, lx.line, 0, lx.errorf(`unexpected "%c"`, ch)
				}
				if ch == '{' {
					return words, line, evBlockStart, nil
				}
				return words, line, evDirective, nil
			case '}':
				if len(words) != 0 {
					return nil, lx.line, 0, lx.errorf(`unexpected "}"`)
				}
				return nil, lx.line, evBlockEnd, nil
			case '#':
				sharpComment = true
				continue
			case '\\':
				quoted, lastSpace = true, false
				continue
			case '"':
				start++
				dQuoted, lastSpace = true, false
				continue
			case '\'':
				start++
				sQuoted, lastSpace = true, false
				continue
			case '$':
				variable, lastSpace = true, false
				continue
			default:
				lastSpace = false
			}
			continue
		}
		if ch == '{' && variable {
			continue
		}
		variable = false
		if ch == '\\' {
			quoted = true
			continue
		}
		if ch == '$' {
			variable = true
			continue
		}
		found := false
		switch {
		case dQuoted:
			if ch == '"' {
				dQuoted, needSpace, found = false, true, true
			}
		case sQuoted:
			if ch == '\'' {
				sQuoted, needSpace, found = false, true, true
			}
		case isSpace(ch) || ch == ';' || ch == '{':
			lastSpace, found = true, true
		}
		if !found {
			continue
		}
		words = append(words, unescape(lx.data[start:lx.pos-1]))
		switch ch {
		case ';':
			return words, line, evDirective, nil
		case '{':
			return words, line, evBlockStart, nil
		}
	}
}

// unescape copies a word the way ngx_conf_read_token does: \" \' and \\ lose their
// backslash, \t \r \n become the control characters, any other backslash stays.
func unescape(b []byte) string {
	out := make([]byte, 0, len(b))
	for i := 0; i < len(b); i++ {
		if b[i] == '\\' && i+1 < len(b) {
			switch b[i+1] {
			case '"', '\'', '\\':
				i++
			case 't':
				out = append(out, '\t')
				i++
				continue
			case 'r':
				out = append(out, '\r')
				i++
				continue
			case 'n':
				out = append(out, '\n')
				i++
				continue
			}
		}
		out = append(out, b[i])
	}
	return string(out)
}
