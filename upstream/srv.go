package upstream

import (
	"context"
	"errors"
	"net/netip"
	"time"

	"github.com/tether-proxy/tether/conf"
)

// lookupSRV returns the targets of a service= server line: one per address of each SRV
// record's target, with the server srvServer makes of the record. Records whose priority is
// not the lowest become backups; on a `backup` line they are left out, as nginx does
// (ngx_stream_upstream_zone_resolve_handler, src/stream/ngx_stream_upstream_zone_module.c).
func (p *Pool) lookupSRV(ctx context.Context, s conf.Server) ([]target, time.Duration, error) {
	if p.dns == nil {
		return nil, 0, errors.New("service= needs the upstream's resolver")
	}
	recs, ttl, skipped, err := p.dns.lookupSRV(ctx, s.SRVName())
	if err != nil {
		return nil, 0, err
	}
	if skipped != nil {
		p.logger().Warn("some SRV targets left out", "server", s.Name, "srv", s.SRVName(), "err", skipped)
	}
	lowest := recs[0].priority // recs are sorted by priority
	var out []target
	for _, r := range recs {
		if s.Backup && r.priority != lowest {
			continue
		}
		out = append(out, target{srvServer(s, r.srvRecord, r.priority != lowest), netip.AddrPortFrom(r.addr, r.port)})
	}
	return out, ttl, nil
}

// srvServer is the server an SRV record makes of service line s, after nginx: the record's
// target is the name (the hash identity, without a port, as nginx names such a peer) and the
// host, its port is the port, its weight the weight unless the line sets one (a weight of 0
// counts as 1, ngx_resolver.c), and it is a backup when the line is one or the record's
// priority is not the lowest. Everything else (max_fails, fail_timeout, max_conns, down) is
// the line's.
func srvServer(s conf.Server, r srvRecord, lower bool) conf.Server {
	out := s
	out.Name, out.Host, out.Port = r.target, r.target, r.port
	if s.Weight == 1 {
		out.Weight = max(int(r.weight), 1)
	}
	out.Backup = s.Backup || lower
	return out
}
