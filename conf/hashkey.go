package conf

import (
	"fmt"
	"strings"
)

// HashKey is where a listener takes the sticky hash key from (`hash_key`). The zero value is
// the client address, nginx's $remote_addr.
type HashKey struct {
	Kind KeyKind
	Name string // header, cookie or query parameter name
	Hop  Hop    // for list headers such as X-Forwarded-For: which element
}

// KeyKind is the source of a HashKey.
type KeyKind string

// Key sources. A key that is absent or empty in a request falls back to the client address.
const (
	KeyRemoteAddr KeyKind = ""       // nginx $remote_addr
	KeyHeader     KeyKind = "header" // nginx $http_NAME
	KeyCookie     KeyKind = "cookie" // nginx $cookie_NAME
	KeyQuery      KeyKind = "query"  // nginx $arg_NAME
)

// Hop picks one element of a comma-separated header.
type Hop string

// Hops: the whole value (nginx's $http_x_forwarded_for), the first element (the original
// client, as far as the chain can be trusted), or the last one (the nearest hop).
const (
	HopAll   Hop = ""
	HopFirst Hop = "first"
	HopLast  Hop = "last"
)

// String spells k as in the configuration file.
func (k HashKey) String() string {
	if k.Kind == KeyRemoteAddr {
		return "remote_addr"
	}
	s := string(k.Kind) + ":" + k.Name
	if k.Hop != HopAll {
		s += ":" + string(k.Hop)
	}
	return s
}

// ParseHashKey parses a hash_key value: "remote_addr", "header:NAME[:first|:last]",
// "cookie:NAME" or "query:NAME".
func ParseHashKey(s string) (HashKey, error) {
	if s == "remote_addr" {
		return HashKey{}, nil
	}
	kind, rest, ok := strings.Cut(s, ":")
	if !ok || rest == "" {
		return HashKey{}, fmt.Errorf(`want "remote_addr", "header:NAME", "header:NAME:first", "header:NAME:last", "cookie:NAME" or "query:NAME"`)
	}
	k := HashKey{Kind: KeyKind(kind), Name: rest}
	switch k.Kind {
	case KeyHeader:
		if name, hop, ok := strings.Cut(rest, ":"); ok {
			k.Name, k.Hop = name, Hop(hop)
			if k.Hop != HopFirst && k.Hop != HopLast {
				return HashKey{}, fmt.Errorf("unknown hop %q: want first or last", hop)
			}
		}
		if !isToken(k.Name) {
			return HashKey{}, fmt.Errorf("%q is not a header name", k.Name)
		}
	case KeyCookie, KeyQuery:
		if strings.ContainsAny(rest, " ;,=&") {
			return HashKey{}, fmt.Errorf("%q is not a %s name", rest, kind)
		}
	default:
		return HashKey{}, fmt.Errorf("unknown key source %q: want remote_addr, header, cookie or query", kind)
	}
	return k, nil
}

// isToken reports whether s is an RFC 9110 section 5.6.2 token.
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range []byte(s) {
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`"(),/:;<=>?@[\]{}`, c) >= 0 {
			return false
		}
	}
	return true
}
