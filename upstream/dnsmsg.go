package upstream

import (
	"encoding/binary"
	"fmt"
	"net/netip"
)

// dnsAnswer is what a response says about the question's addresses or SRV records.
type dnsAnswer struct {
	addrs []netip.Addr // for A and AAAA questions
	srvs  []srvRecord  // for SRV questions, in answer order
	ttl   uint32       // seconds; the smallest TTL of the records used (CNAMEs included)
}

// srvRecord is the RDATA of one SRV record (RFC 2782).
type srvRecord struct {
	priority, weight, port uint16
	target                 string // canonical (see readName)
}

// rr is one resource record of the answer section.
type rr struct {
	name  string // canonical: lower case, no final dot
	typ   uint16
	class uint16
	ttl   uint32
	data  []byte // RDATA
	at    int    // offset of RDATA in the message, for compressed names in it
}

// parseResponse parses a response to the query (id, qname, qtype) after RFC 1035 section 4.1:
// the header must be a response to a standard query with our ID and the question echoed;
// RCODE 3 is errNXDomain, any other non-zero RCODE an error; TC gives errTruncated. The
// addresses are the A (4 bytes) or AAAA (16 bytes) records of class IN owned by qname or by a
// name the answer's CNAME chain leads to from qname (RFC 1034 section 3.6.2); for an SRV
// question, the SRV records (RFC 2782) of that name instead, without those whose target is "."
// (the service is decidedly not available there). The authority and additional sections are
// ignored. qname must be canonical.
func parseResponse(msg []byte, id uint16, qname string, qtype uint16) (dnsAnswer, error) {
	if len(msg) < dnsHeaderLen {
		return dnsAnswer{}, errShortDNS
	}
	flags := binary.BigEndian.Uint16(msg[2:])
	switch {
	case binary.BigEndian.Uint16(msg) != id:
		return dnsAnswer{}, fmt.Errorf("answer ID %d, want %d", binary.BigEndian.Uint16(msg), id)
	case flags&0x8000 == 0:
		return dnsAnswer{}, fmt.Errorf("not a response")
	case flags>>11&0xf != 0:
		return dnsAnswer{}, fmt.Errorf("opcode %d in answer", flags>>11&0xf)
	case flags&0x0200 != 0:
		return dnsAnswer{}, errTruncated
	}
	switch rcode := flags & 0xf; rcode {
	case 0:
	case 3:
		return dnsAnswer{}, errNXDomain
	default:
		return dnsAnswer{}, fmt.Errorf("server answered %s", rcodeName(rcode))
	}
	if qd := binary.BigEndian.Uint16(msg[4:]); qd != 1 {
		return dnsAnswer{}, fmt.Errorf("%d questions in answer, want 1", qd)
	}
	an := int(binary.BigEndian.Uint16(msg[6:]))
	name, off, err := readName(msg, dnsHeaderLen)
	if err != nil {
		return dnsAnswer{}, fmt.Errorf("question: %w", err)
	}
	if off+4 > len(msg) {
		return dnsAnswer{}, errShortDNS
	}
	if t, c := binary.BigEndian.Uint16(msg[off:]), binary.BigEndian.Uint16(msg[off+2:]); name != qname || t != qtype || c != classIN {
		return dnsAnswer{}, fmt.Errorf("answer is for another question (%q type %d class %d)", name, t, c)
	}
	off += 4
	records := make([]rr, 0, min(an, 16))
	for range an {
		var r rr
		r.name, off, err = readName(msg, off)
		if err != nil {
			return dnsAnswer{}, fmt.Errorf("answer record: %w", err)
		}
		if off+10 > len(msg) {
			return dnsAnswer{}, errShortDNS
		}
		r.typ = binary.BigEndian.Uint16(msg[off:])
		r.class = binary.BigEndian.Uint16(msg[off+2:])
		r.ttl = binary.BigEndian.Uint32(msg[off+4:])
		if r.ttl > 1<<31-1 {
			r.ttl = 0 // RFC 2181 section 8: a TTL with the top bit set is read as zero
		}
		n := int(binary.BigEndian.Uint16(msg[off+8:]))
		off += 10
		if off+n > len(msg) {
			return dnsAnswer{}, errShortDNS
		}
		r.data, r.at = msg[off:off+n], off
		off += n
		records = append(records, r)
	}
	return collect(msg, records, qname, qtype)
}

// collect follows the CNAME chain from qname and gathers the addresses of its last name.
func collect(msg []byte, records []rr, qname string, qtype uint16) (dnsAnswer, error) {
	ttl := uint32(1<<31 - 1)
	owner := qname
	for range maxChain {
		i := -1
		for j, r := range records {
			if r.typ == typeCNAME && r.class == classIN && r.name == owner {
				i = j
				break
			}
		}
		if i < 0 {
			break
		}
		target, end, err := readName(msg, records[i].at)
		if err != nil || end > records[i].at+len(records[i].data) {
			return dnsAnswer{}, fmt.Errorf("CNAME of %q: malformed", owner)
		}
		ttl = min(ttl, records[i].ttl)
		owner = target
	}
	if qtype == typeSRV {
		return collectSRV(msg, records, owner, ttl)
	}
	size := 4
	if qtype == typeAAAA {
		size = 16
	}
	var ans dnsAnswer
	for _, r := range records {
		if r.typ != qtype || r.class != classIN || r.name != owner {
			continue
		}
		if len(r.data) != size {
			return dnsAnswer{}, fmt.Errorf("address record of %q has %d bytes, want %d", owner, len(r.data), size)
		}
		a, _ := netip.AddrFromSlice(r.data)
		ans.addrs = append(ans.addrs, a)
		ttl = min(ttl, r.ttl)
	}
	if len(ans.addrs) > 0 {
		ans.ttl = ttl
	}
	return ans, nil
}

// collectSRV gathers the SRV records of owner; ttl is the smallest TTL of the CNAMEs that led
// there. A target may be compressed although RFC 2782 forbids it: resolvers send it so, and
// nginx reads it (ngx_resolver_copy).
func collectSRV(msg []byte, records []rr, owner string, ttl uint32) (dnsAnswer, error) {
	var ans dnsAnswer
	for _, r := range records {
		if r.typ != typeSRV || r.class != classIN || r.name != owner {
			continue
		}
		if len(r.data) < 7 {
			return dnsAnswer{}, fmt.Errorf("SRV record of %q has %d bytes, want at least 7", owner, len(r.data))
		}
		target, end, err := readName(msg, r.at+6)
		if err != nil || end != r.at+len(r.data) {
			return dnsAnswer{}, fmt.Errorf("SRV record of %q: malformed target", owner)
		}
		ttl = min(ttl, r.ttl)
		if target == "" || !hostName(target) {
			continue // "." : no service here (RFC 2782); or a target no host can be dialled by
		}
		ans.srvs = append(ans.srvs, srvRecord{
			priority: binary.BigEndian.Uint16(r.data),
			weight:   binary.BigEndian.Uint16(r.data[2:]),
			port:     binary.BigEndian.Uint16(r.data[4:]),
			target:   target,
		})
	}
	if len(ans.srvs) > 0 {
		ans.ttl = ttl
	}
	return ans, nil
}

// readName reads the possibly compressed domain name at off (RFC 1035 sections 3.1 and 4.1.4)
// and returns it in canonical form (ASCII lower case, labels joined by ".", a "." inside a
// label escaped as "\.") with the offset just past it where it started.
func readName(msg []byte, off int) (string, int, error) {
	var b []byte
	end, pointers, wire := -1, 0, 1
	for {
		if off >= len(msg) {
			return "", 0, errShortDNS
		}
		c := int(msg[off])
		switch c & 0xc0 {
		case 0x00:
			off++
			if c == 0 {
				if end < 0 {
					end = off
				}
				return string(b), end, nil
			}
			if off+c > len(msg) {
				return "", 0, errShortDNS
			}
			if wire += 1 + c; wire > 255 {
				return "", 0, fmt.Errorf("name longer than 255 bytes")
			}
			if len(b) > 0 {
				b = append(b, '.')
			}
			for _, ch := range msg[off : off+c] {
				switch {
				case ch >= 'A' && ch <= 'Z':
					ch += 'a' - 'A'
				case ch == '.' || ch == '\\':
					b = append(b, '\\')
				}
				b = append(b, ch)
			}
			off += c
		case 0xc0:
			if off+1 >= len(msg) {
				return "", 0, errShortDNS
			}
			if end < 0 {
				end = off + 2
			}
			if pointers++; pointers > maxPointers {
				return "", 0, fmt.Errorf("too many compression pointers")
			}
			off = (c&0x3f)<<8 | int(msg[off+1])
		default:
			return "", 0, fmt.Errorf("unknown label type %#x", c&0xc0)
		}
	}
}

// rcodeName names the RCODEs a resolver commonly sends (RFC 1035 section 4.1.1).
func rcodeName(rcode uint16) string {
	switch rcode {
	case 1:
		return "FORMERR"
	case 2:
		return "SERVFAIL"
	case 4:
		return "NOTIMP"
	case 5:
		return "REFUSED"
	}
	return fmt.Sprintf("RCODE %d", rcode)
}

// hostName reports whether a canonical name (readName) can name a host to resolve and dial:
// letters, digits, hyphens and underscores in dot-separated labels (RFC 952 and 1123, with the
// underscore service names use). Other bytes are legal in DNS labels but name no host.
func hostName(name string) bool {
	for i := 0; i < len(name); i++ {
		switch c := name[i]; {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '-', c == '_', c == '.':
		default:
			return false
		}
	}
	return true
}
