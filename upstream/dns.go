package upstream

import (
	"cmp"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/netip"
	"slices"
	"strings"
	"time"
)

// dnsClient looks up A and AAAA records by asking the configured DNS servers directly
// (RFC 1035: one question per message, UDP first, TCP when the answer is truncated). Unlike the
// system resolver it learns each answer's TTL, which decides when a `resolve` server is looked
// up again. It does no caching and no search-domain expansion: names are absolute.
type dnsClient struct {
	servers []netip.AddrPort
	timeout time.Duration // per exchange with one server
}

// DNS wire constants (RFC 1035 section 3.2.2, RFC 3596 for AAAA).
const (
	typeA     = 1
	typeCNAME = 5
	typeAAAA  = 28
	typeSRV   = 33 // RFC 2782
	classIN   = 1

	dnsTimeout   = 2 * time.Second
	dnsHeaderLen = 12
	// maxChain bounds the CNAME chain followed inside one answer.
	maxChain = 8
	// maxPointers bounds the compression pointers followed in one name.
	maxPointers = 32
	// maxSRVTargets bounds the SRV targets of one service that are looked up (each costs an A
	// and an AAAA query); records beyond it, in priority order, are left out and logged.
	maxSRVTargets = 64
)

var (
	errNXDomain   = errors.New("no such host (NXDOMAIN)")
	errNoAddrs    = errors.New("no addresses")
	errTruncated  = errors.New("truncated answer")
	errShortDNS   = errors.New("message too short")
	aLongTimeAgo  = time.Unix(1, 0)
	errNoAnswerID = errors.New("no answer with the query's ID")
)

// lookup returns the IPv4 then the IPv6 addresses of host and the smallest TTL among the
// records that gave them.
func (c *dnsClient) lookup(ctx context.Context, host string) ([]netip.Addr, time.Duration, error) {
	name, err := canonicalName(host)
	if err != nil {
		return nil, 0, fmt.Errorf("resolve %s: %w", host, err)
	}
	var addrs []netip.Addr
	var errs []error
	ttl := uint32(1<<31 - 1)
	answered := false
	for _, qtype := range []uint16{typeA, typeAAAA} {
		ans, err := c.query(ctx, name, qtype)
		if err != nil {
			errs = append(errs, err)
			if errors.Is(err, errNXDomain) || ctx.Err() != nil {
				break // the name does not exist, whatever the type
			}
			continue
		}
		answered = true
		if len(ans.addrs) > 0 {
			addrs = append(addrs, ans.addrs...)
			ttl = min(ttl, ans.ttl)
		}
	}
	switch {
	case len(addrs) > 0:
		return orderAddrs(addrs), time.Duration(ttl) * time.Second, nil
	case answered:
		return nil, 0, fmt.Errorf("resolve %s: %w", host, errNoAddrs)
	}
	return nil, 0, fmt.Errorf("resolve %s: %w", host, errors.Join(errs...))
}

// srvTarget is one address an SRV answer leads to: the record and one address of its target.
type srvTarget struct {
	srvRecord
	addr netip.Addr
}

// lookupSRV reads the SRV records of name and looks up the addresses of their targets. It
// returns them ordered by priority, target, port and address (so every process reading the
// same records builds the same list, IPv4 addresses first), and the smallest TTL of
// the records that gave them. Zero records, or no target with an address, is an error: the
// caller keeps what it had. A target the DNS says has no address (NXDOMAIN, or no A or AAAA
// record) is left out and reported in skipped, as nginx logs and skips it; any other failure
// to look a target up (a timeout, SERVFAIL, REFUSED) fails the whole lookup, so that a
// flaky resolver never takes backends away.
func (c *dnsClient) lookupSRV(ctx context.Context, name string) (targets []srvTarget, ttl time.Duration, skipped error, err error) {
	qname, err := canonicalName(name)
	if err != nil {
		return nil, 0, nil, fmt.Errorf("resolve SRV %s: %w", name, err)
	}
	ans, err := c.query(ctx, qname, typeSRV)
	if err != nil {
		return nil, 0, nil, fmt.Errorf("resolve SRV %s: %w", name, err)
	}
	recs := ans.srvs
	slices.SortFunc(recs, func(a, b srvRecord) int {
		return cmp.Or(cmp.Compare(a.priority, b.priority), strings.Compare(a.target, b.target), cmp.Compare(a.port, b.port))
	})
	recs = slices.CompactFunc(recs, func(a, b srvRecord) bool { return a.target == b.target && a.port == b.port })
	var errs []error
	if n := len(recs); n > maxSRVTargets {
		errs = append(errs, fmt.Errorf("%d SRV records, only the first %d are used", n, maxSRVTargets))
		recs = recs[:maxSRVTargets]
	}
	least := ans.ttl
	for _, r := range recs {
		if r.port == 0 {
			errs = append(errs, fmt.Errorf("SRV target %s: port 0", r.target))
			continue
		}
		addrs, addrTTL, err := c.lookup(ctx, r.target)
		if err != nil {
			if !errors.Is(err, errNXDomain) && !errors.Is(err, errNoAddrs) || ctx.Err() != nil {
				return nil, 0, nil, fmt.Errorf("resolve SRV %s: target %s: %w", name, r.target, err)
			}
			errs = append(errs, err)
			continue
		}
		slices.SortFunc(addrs, netip.Addr.Compare) // IPv4 first; the same order whatever the server's rotation
		for _, a := range addrs {
			targets = append(targets, srvTarget{r, a})
		}
		least = min(least, uint32(addrTTL/time.Second))
	}
	skipped = errors.Join(errs...)
	if len(targets) == 0 {
		if len(ans.srvs) == 0 {
			return nil, 0, nil, fmt.Errorf("resolve SRV %s: no SRV records", name)
		}
		return nil, 0, nil, fmt.Errorf("resolve SRV %s: no target has an address: %w", name, skipped)
	}
	return targets, time.Duration(least) * time.Second, skipped, nil
}

// query asks each server in turn for name's records of qtype, until one answers. NXDOMAIN is
// an answer; a failure (timeout, SERVFAIL, REFUSED, a malformed message) moves on.
func (c *dnsClient) query(ctx context.Context, name string, qtype uint16) (dnsAnswer, error) {
	id := uint16(rand.Uint32())
	q := appendQuery(make([]byte, 0, 64), id, name, qtype)
	var errs []error
	for _, srv := range c.servers {
		resp, err := c.exchange(ctx, "udp", srv, q, id)
		var ans dnsAnswer
		if err == nil {
			ans, err = parseResponse(resp, id, name, qtype)
		}
		if errors.Is(err, errTruncated) {
			resp, err = c.exchange(ctx, "tcp", srv, q, id)
			if err == nil {
				ans, err = parseResponse(resp, id, name, qtype)
			}
		}
		if err == nil {
			return ans, nil
		}
		err = fmt.Errorf("%s: %w", srv, err)
		if errors.Is(err, errNXDomain) || ctx.Err() != nil {
			return dnsAnswer{}, err
		}
		errs = append(errs, err)
	}
	return dnsAnswer{}, errors.Join(errs...)
}

// exchange sends query q to srv over network ("udp" or "tcp", RFC 1035 section 4.2) and
// returns the response bearing id.
func (c *dnsClient) exchange(ctx context.Context, network string, srv netip.AddrPort, q []byte, id uint16) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(ctx, network, srv.String())
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(aLongTimeAgo) })
	defer stop()
	if network == "tcp" {
		msg := binary.BigEndian.AppendUint16(make([]byte, 0, 2+len(q)), uint16(len(q)))
		if _, err := conn.Write(append(msg, q...)); err != nil {
			return nil, err
		}
		var n [2]byte
		if _, err := io.ReadFull(conn, n[:]); err != nil {
			return nil, err
		}
		resp := make([]byte, binary.BigEndian.Uint16(n[:]))
		if _, err := io.ReadFull(conn, resp); err != nil {
			return nil, err
		}
		return resp, nil
	}
	if _, err := conn.Write(q); err != nil {
		return nil, err
	}
	buf := make([]byte, 4096)
	for {
		n, err := conn.Read(buf)
		if err != nil {
			if ctx.Err() != nil {
				return nil, fmt.Errorf("%w: %w", errNoAnswerID, ctx.Err())
			}
			return nil, err
		}
		// A datagram with another ID is a late answer to an earlier query: wait for ours.
		if n >= 2 && binary.BigEndian.Uint16(buf) == id {
			return buf[:n], nil
		}
	}
}

// canonicalName lower-cases host and drops a final dot, checking the RFC 1035 section 2.3.4
// limits (labels of 1 to 63 bytes, at most 253 bytes written out).
func canonicalName(host string) (string, error) {
	name := strings.ToLower(strings.TrimSuffix(host, "."))
	if name == "" || len(name) > 253 {
		return "", fmt.Errorf("invalid DNS name %q", host)
	}
	for _, l := range strings.Split(name, ".") {
		if l == "" || len(l) > 63 {
			return "", fmt.Errorf("invalid DNS name %q", host)
		}
	}
	return name, nil
}

// appendQuery appends a standard query for name (canonical) and qtype with recursion desired
// (RFC 1035 section 4.1).
func appendQuery(b []byte, id uint16, name string, qtype uint16) []byte {
	b = binary.BigEndian.AppendUint16(b, id)
	b = append(b, 0x01, 0x00) // QR=0 OPCODE=0 RD=1
	b = append(b, 0, 1, 0, 0, 0, 0, 0, 0)
	for _, l := range strings.Split(name, ".") {
		b = append(b, byte(len(l)))
		b = append(b, l...)
	}
	b = append(b, 0)
	b = binary.BigEndian.AppendUint16(b, qtype)
	return binary.BigEndian.AppendUint16(b, classIN)
}
