package conf

import (
	"strconv"
	"strings"

	"github.com/BurntSushi/toml"
)

// keyPath is a key path into the document as a list of formatted
// segments: table keys formatted like TOML writes them (`app`,
// `"my app"`) and array indices (`[0]`). Its String form, e.g.
// `listeners[0].tls.cert`, is both what problems show and the key of the
// line index.
type keyPath []string

// key returns the path of the table key name below p.
func (p keyPath) key(name string) keyPath {
	return append(p[:len(p):len(p)], toml.Key{name}.String())
}

// index returns the path of array element i of p.
func (p keyPath) index(i int) keyPath {
	return append(p[:len(p):len(p)], "["+strconv.Itoa(i)+"]")
}

func (p keyPath) String() string {
	var b strings.Builder
	for i, seg := range p {
		if i > 0 && !strings.HasPrefix(seg, "[") {
			b.WriteByte('.')
		}
		b.WriteString(seg)
	}
	return b.String()
}
