package conf

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// QuoteString quotes s as a TOML basic string, for the importers that write tether
// configurations (tether import-nginx, import-haproxy).
func QuoteString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range strings.ToValidUTF8(s, string(utf8.RuneError)) {
		switch {
		case r == '"':
			b.WriteString(`\"`)
		case r == '\\':
			b.WriteString(`\\`)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, `\u%04X`, r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// Key returns s as a TOML key: bare when TOML allows one, else quoted.
func Key(s string) string {
	if s == "" {
		return `""`
	}
	for _, r := range s {
		if !(r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_' || r == '-') {
			return QuoteString(s)
		}
	}
	return s
}
