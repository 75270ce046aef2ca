package upstream

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/tether-proxy/tether/conf"
	"github.com/tether-proxy/tether/internal/dnsmasqtest"
)

// TestSRVServer pins how an SRV record becomes a server, after nginx's
// ngx_stream_upstream_zone_resolve_handler: the target names the peer (no port), the record's
// port and weight apply (weight 0 counts as 1) unless the line sets a weight, and a record of
// a priority other than the lowest, or any record of a backup line, is a backup.
func TestSRVServer(t *testing.T) {
	line := func(s string) conf.Server {
		srv, err := conf.ParseServer(s)
		if err != nil {
			t.Fatal(err)
		}
		return srv
	}
	rec := srvRecord{priority: 3, weight: 7, port: 8080, target: "b1.test"}
	tests := []struct {
		name        string
		line        string
		rec         srvRecord
		lower       bool
		wantWeight  int
		wantBackup  bool
		wantFails   int
		wantNameFor string
	}{
		{"record weight", "app.test service=http resolve max_fails=4", rec, false, 7, false, 4, "b1.test"},
		{"weight 0 counts as 1", "app.test service=http resolve", srvRecord{0, 0, 80, "b1.test"}, false, 1, false, 1, "b1.test"},
		{"line weight wins", "app.test service=http resolve weight=3", rec, false, 3, false, 1, "b1.test"},
		{"lower priority: backup", "app.test service=http resolve", rec, true, 7, true, 1, "b1.test"},
		{"backup line", "app.test service=http resolve backup", rec, false, 7, true, 1, "b1.test"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := srvServer(line(tc.line), tc.rec, tc.lower)
			if got.Name != tc.wantNameFor || got.Host != tc.rec.target || got.Port != tc.rec.port ||
				got.Weight != tc.wantWeight || got.Backup != tc.wantBackup || got.MaxFails != tc.wantFails || !got.Resolve {
				t.Errorf("got %+v", got)
			}
		})
	}
}

// peerSummary describes the pool's peers as "name addr weight [backup]", in order.
func peerSummary(p *Pool) []string {
	var out []string
	for _, peer := range p.Peers() {
		s := fmt.Sprintf("%s %s w%d", peer.Server.Name, peer, peer.Server.Weight)
		if peer.Server.Backup {
			s += " backup"
		}
		out = append(out, s)
	}
	return out
}

// TestSRVFollowsDNS serves SRV records from a real dnsmasq under a running pool: the pool's
// peers are the records' targets on the records' ports, weighted and prioritised as nginx
// does; when a record goes, exactly the clients of its target move (consistent hashing over
// the target names); when the name has zero usable records (a "no service" record, then no
// name at all) or a target's lookup fails, the old backends stay and the failure is logged; a
// target the DNS says does not exist is left out; and a reload keeps the backends.
func TestSRVFollowsDNS(t *testing.T) {
	const name = "_http._tcp.app.test"
	hosts := map[string][]string{"b1.test": {"127.0.0.21"}, "b2.test": {"127.0.0.22"}, "b3.test": {"127.0.0.23", "127.0.0.24"}}
	all := []dnsmasqtest.SRV{
		{Name: name, Target: "b1.test", Port: 3001, Priority: 0, Weight: 10},
		{Name: name, Target: "b2.test", Port: 3002, Priority: 0, Weight: 5},
		{Name: name, Target: "b3.test", Port: 3003, Priority: 1, Weight: 1},
	}
	dns := dnsmasqtest.Start(t, dnsmasqtest.Options{TTL: 1, SRV: all}, hosts)
	u := parseUpstream(t, fmt.Sprintf("servers = [\"app.test service=_http._tcp resolve\"]\nresolver = %q\n", dns.Addr))
	p, err := New(context.Background(), u, dns.Resolver(), nil)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"b1.test 127.0.0.21:3001 w10", "b2.test 127.0.0.22:3002 w5",
		"b3.test 127.0.0.23:3003 w1 backup", "b3.test 127.0.0.24:3003 w1 backup"}
	if got := peerSummary(p); !slices.Equal(got, want) {
		t.Fatalf("peers\n got %q\nwant %q", got, want)
	}
	log, logs := newLog()
	p.Start(context.Background(), log)
	defer checkNoLeaks(t)
	defer p.Close()
	before, beforeNames := routes(p)

	dns.SetSRV([]dnsmasqtest.SRV{all[0], all[2]})
	waitFor(t, "b2.test to leave", func() bool { return len(p.Peers()) == 3 })
	after, _ := routes(p)
	moved := 0
	for k, peer := range before {
		switch {
		case beforeNames[k] == "b2.test":
			moved++
			if after[k].Server.Name != "b1.test" {
				t.Fatalf("client %s of the removed target went to %s, want the only other primary", k, after[k])
			}
		case after[k] != peer:
			t.Fatalf("client %s of %s moved to %s", k, peer, after[k])
		}
	}
	if moved == 0 {
		t.Fatal("no client was on the removed target")
	}

	for i, records := range [][]dnsmasqtest.SRV{{{Name: name}}, nil} {
		dns.SetSRV(records)
		waitFor(t, "the zero-record answer to be logged", func() bool {
			n := 0
			for _, r := range logs.records("re-resolving server failed, keeping its addresses") {
				if strings.Contains(fmt.Sprint(r["err"]), "resolve SRV "+name) {
					n++
				}
			}
			return n > i
		})
		if got := peerSummary(p); !slices.Equal(got, []string{want[0], want[2], want[3]}) {
			t.Fatalf("after a zero-record answer the peers are %q", got)
		}
	}
	// A reload meanwhile keeps them too, as the same peers (their state carried over).
	next, err := New(context.Background(), u, dns.Resolver(), p)
	if err != nil {
		t.Fatalf("reload while the SRV name has no records: %v", err)
	}
	if !slices.Equal(next.Peers(), p.Peers()) {
		t.Fatalf("reload made new peers %q", peerSummary(next))
	}
	// A target the resolver fails to look up (REFUSED: outside dnsmasq's zone, no upstream)
	// fails the whole lookup: nothing changes. A target the DNS says does not exist is left out.
	failures := len(logs.records("re-resolving server failed, keeping its addresses"))
	dns.SetSRV([]dnsmasqtest.SRV{all[0], {Name: name, Target: "b9.example", Port: 3009}})
	waitFor(t, "the refused target to fail the lookup", func() bool {
		rs := logs.records("re-resolving server failed, keeping its addresses")
		return len(rs) > failures && strings.Contains(fmt.Sprint(rs[len(rs)-1]["err"]), "target b9.example")
	})
	if got := peerSummary(p); !slices.Equal(got, []string{want[0], want[2], want[3]}) {
		t.Fatalf("after a refused target lookup the peers are %q", got)
	}
	dns.SetSRV([]dnsmasqtest.SRV{all[0], {Name: name, Target: "b8.test", Port: 3008}})
	waitFor(t, "the missing target to be left out", func() bool { return len(p.Peers()) == 1 })
	if got := peerSummary(p); !slices.Equal(got, want[:1]) || len(logs.records("some SRV targets left out")) == 0 {
		t.Fatalf("with b8.test missing from DNS the peers are %q, want b1 alone and a log line", got)
	}
}
