package tlsterm

import (
	"crypto/tls"
	"fmt"
	"slices"
	"strings"
)

// group is one key-exchange group a listener can offer.
type group struct {
	name    string // as tether's configuration and logs spell it
	id      tls.CurveID
	aliases []string // other spellings accepted: OpenSSL's (nginx ssl_ecdh_curve, HAProxy curves)
}

// groups are the key-exchange groups Go's TLS server supports, post-quantum hybrids first.
var groups = []group{
	{"X25519MLKEM768", tls.X25519MLKEM768, nil},
	{"SecP256r1MLKEM768", tls.SecP256r1MLKEM768, nil},
	{"SecP384r1MLKEM1024", tls.SecP384r1MLKEM1024, nil},
	{"X25519", tls.X25519, nil},
	{"P-256", tls.CurveP256, []string{"prime256v1", "secp256r1"}},
	{"P-384", tls.CurveP384, []string{"secp384r1"}},
	{"P-521", tls.CurveP521, []string{"secp521r1"}},
}

// GroupName returns the configuration's spelling of a key-exchange group name (any case, or an
// OpenSSL alias), or an error that lists the names known.
func GroupName(s string) (string, error) {
	g, ok := findGroup(s)
	if !ok {
		names := make([]string, len(groups))
		for i, g := range groups {
			names[i] = g.name
		}
		return "", fmt.Errorf("unknown key exchange group %q (known: %s)", s, strings.Join(names, ", "))
	}
	return g.name, nil
}

// GroupList reads an OpenSSL group list, colon-separated as nginx's ssl_ecdh_curve and
// HAProxy's curves write it, into configuration spellings (GroupName); the error names the first
// group Go does not have.
func GroupList(list string) ([]string, error) {
	var names []string
	for _, g := range strings.Split(list, ":") {
		name, err := GroupName(g)
		if err != nil {
			return nil, err
		}
		names = append(names, name)
	}
	return names, nil
}

func findGroup(s string) (group, bool) {
	i := slices.IndexFunc(groups, func(g group) bool {
		return strings.EqualFold(g.name, s) || slices.ContainsFunc(g.aliases, func(a string) bool { return strings.EqualFold(a, s) })
	})
	if i < 0 {
		return group{}, false
	}
	return groups[i], true
}

// curveIDs maps configured group names (as GroupName returns them) to crypto/tls's IDs; nil
// for none, which means Go's defaults.
func curveIDs(names []string) ([]tls.CurveID, error) {
	var ids []tls.CurveID
	for _, n := range names {
		g, ok := findGroup(n)
		if !ok {
			return nil, fmt.Errorf("tls: unknown key exchange group %q", n)
		}
		ids = append(ids, g.id)
	}
	return ids, nil
}
