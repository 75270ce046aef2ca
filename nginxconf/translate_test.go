package nginxconf

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tether-proxy/tether/conf"
	"github.com/tether-proxy/tether/tlsterm"
)

var update = flag.Bool("update", false, "rewrite the golden files of TestTranslateGuides")

// writeCert writes a self-signed certificate and key for hosts at certPath and keyPath
// (relative to dir).
func writeCert(t *testing.T, dir, certPath, keyPath string, hosts ...string) {
	t.Helper()
	cert, err := tlsterm.SelfSigned(hosts...)
	if err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	c, k, err := tlsterm.WritePEM(tmp, cert)
	if err != nil {
		t.Fatal(err)
	}
	for from, to := range map[string]string{c: certPath, k: keyPath} {
		to = filepath.Join(dir, to)
		if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(from)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(to, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// translateText loads nginx.conf from files (with certs/site.pem, certs/site.key and
// certs/other.pem, certs/other.key present), translates it and loads the result with
// conf.Parse, which must accept it.
func translateText(t *testing.T, files map[string]string) (*Result, *conf.Config, string) {
	t.Helper()
	dir := writeTree(t, files)
	writeCert(t, dir, "certs/site.pem", "certs/site.key", "site.example")
	writeCert(t, dir, "certs/other.pem", "certs/other.key", "other.example")
	c, err := Load(filepath.Join(dir, "nginx.conf"), "")
	if err != nil {
		t.Fatal(err)
	}
	res, err := Translate(c)
	if err != nil {
		t.Fatalf("Translate: %v\nnotes:\n%s", err, notesText(res))
	}
	cfg, err := conf.Parse(filepath.Join(t.TempDir(), "tether.toml"), res.TOML)
	if err != nil {
		t.Fatalf("conf.Parse of the translation: %v\n%s", err, res.TOML)
	}
	return res, cfg, dir
}

// hasNote reports whether res has a note matching "LINE directive: fragment of the reason".
func hasNote(res *Result, want string) bool {
	line, rest, _ := strings.Cut(want, " ")
	directive, frag, _ := strings.Cut(rest, ": ")
	for _, n := range res.Notes {
		if fmt.Sprint(n.Line) == line && n.Directive == directive && strings.Contains(n.Why, frag) {
			return true
		}
	}
	return false
}

func notesText(res *Result) string {
	if res == nil {
		return ""
	}
	var b strings.Builder
	for _, n := range res.Notes {
		fmt.Fprintln(&b, n)
	}
	return b.String()
}

// listenerSummary is what a test checks of a listener.
func listenerSummary(l *conf.Listener) string {
	s := fmt.Sprintf("%s %s -> %s %s", l.Name, l.Listen, l.Upstream, l.Preamble)
	if l.Addr.Addr().Is6() && !l.IPv6Only {
		s += " dual-stack"
	}
	if l.TLS != nil {
		s += fmt.Sprintf(" tls=%d", len(l.TLS.Certs))
		if l.TLS.ClientAuth != "" {
			s += " client=" + string(l.TLS.ClientAuth)
		}
		if n := len(l.TLS.TicketKeys); n > 0 {
			s += fmt.Sprintf(" ticket_keys=%d", n)
		}
		if len(l.TLS.Curves) > 0 {
			s += " curves=" + strings.Join(l.TLS.Curves, ",")
		}
	}
	if l.ProxyIn != nil {
		s += fmt.Sprintf(" proxy_in=%v/%v", l.ProxyIn.Trusted, l.ProxyIn.Timeout)
	}
	if l.Forwarded != nil {
		s += " forwarded"
	}
	if l.MaxConnsPerClient > 0 {
		s += fmt.Sprintf(" per_client=%d", l.MaxConnsPerClient)
	}
	if l.HashKey.Kind != conf.KeyRemoteAddr {
		s += " key=" + l.HashKey.String()
	}
	if l.MaxPreamble != 32768 {
		s += fmt.Sprintf(" max_preamble=%d", l.MaxPreamble)
	}
	d := conf.DefaultTimeouts()
	for _, f := range []struct {
		name      string
		got, dflt time.Duration
	}{{"handshake", l.Timeouts.Handshake, d.Handshake}, {"preamble", l.Timeouts.Preamble, d.Preamble},
		{"connect", l.Timeouts.Connect, d.Connect}, {"idle", l.Timeouts.Idle, d.Idle}} {
		if f.got != f.dflt {
			s += fmt.Sprintf(" %s=%v", f.name, f.got)
		}
	}
	return s
}

func upstreamSummary(u *conf.Upstream) string {
	var names []string
	for _, s := range u.Servers {
		p := s.Name
		if s.Weight != 1 {
			p += fmt.Sprintf(" w%d", s.Weight)
		}
		if s.Down {
			p += " down"
		}
		if s.Backup {
			p += " backup"
		}
		names = append(names, p)
	}
	s := fmt.Sprintf("%s %s [%s]", u.Name, u.Balance, strings.Join(names, ", "))
	if u.ProxyProtocol != "" {
		s += " pp=" + string(u.ProxyProtocol)
	}
	return s
}

// TestTranslate checks each mapping on a small configuration: the loaded tether
// configuration, and the notes as "LINE directive: fragment of the reason".
func TestTranslate(t *testing.T) {
	tests := []struct {
		name      string
		conf      string
		listeners []string
		upstreams []string
		notes     []string
		drain     time.Duration
	}{
		{
			name: "stream hash consistent with TLS and timeouts",
			conf: `stream {
  upstream app {
    hash $remote_addr consistent;
    server 127.0.0.1:3001;
    server localhost:3002 weight=2 max_fails=3 fail_timeout=30s;
    server 127.0.0.1:3003 down;
    server 127.0.0.1:3004 backup;
  }
  proxy_timeout 2h;
  server {
    listen 443 ssl;
    ssl_certificate certs/site.pem;
    ssl_certificate_key certs/site.key;
    ssl_handshake_timeout 3s;
    proxy_connect_timeout 1500ms;
    proxy_pass app;
  }
}`,
			listeners: []string{"app-443 0.0.0.0:443 -> app none tls=1 handshake=3s connect=1.5s idle=2h0m0s"},
			upstreams: []string{"app hash-consistent [127.0.0.1:3001, localhost:3002 w2, 127.0.0.1:3003 down, 127.0.0.1:3004 backup]"},
		},
		{
			name: "listen forms",
			conf: `stream {
  upstream u { hash $remote_addr; server 127.0.0.1:1; }
  server {
    listen 8080;
    listen *:8081;
    listen 127.0.0.2:8082;
    listen [::1]:8083;
    listen [::]:8084 ipv6only=off;
    listen [::]:8094 ipv6only=on;
    listen localhost:8085;
    listen unix:/run/x.sock;
    listen 8086 udp;
    listen 8087 reuseport backlog=511 so_keepalive=on;
    listen example.com:8088;
    listen 8089 bind default_server;
    proxy_pass u;
  }
}`,
			listeners: []string{
				"u-8080 0.0.0.0:8080 -> u none", "u-8081 0.0.0.0:8081 -> u none", "u-8082 127.0.0.2:8082 -> u none",
				"u-8083-ipv6 [::1]:8083 -> u none", "u-8084-ipv6 [::]:8084 -> u none dual-stack", "u-8094-ipv6 [::]:8094 -> u none",
				"u-8085 127.0.0.1:8085 -> u none", "u-8087 0.0.0.0:8087 -> u none", "u-8089 0.0.0.0:8089 -> u none",
			},
			upstreams: []string{"u hash [127.0.0.1:1]"},
			notes: []string{
				"10 listen: imported as 127.0.0.1", "11 listen: TCP addresses only", "12 listen: TCP only",
				"13 listen: parameter reuseport", "14 listen: host \"example.com\" is not an IP address",
			},
		},
		{
			name: "http upstreams: port 80 by default, round robin, ip_hash, sticky keys",
			conf: `http {
  upstream rr { server app1.internal; server 127.0.0.1:8000 weight=3; }
  upstream iph { ip_hash; server 127.0.0.1:8001; }
  upstream plain { hash $remote_addr; server app2.internal; }
  upstream cookie { hash $cookie_sid consistent; server 127.0.0.1:8002; }
  upstream bin { hash $binary_remote_addr consistent; server 127.0.0.1:8003; }
  upstream lc { least_conn; server 127.0.0.1:8004 slow_start=30s; server unix:/run/app.sock; }
  upstream arg { hash $arg_room; server 127.0.0.1:8005; }
  upstream hdr { hash $http_x_user_id consistent; server 127.0.0.1:8006; }
  upstream mixed { hash $cookie_sid$remote_addr consistent; server 127.0.0.1:8007; }
  server { listen 8001; location / { proxy_pass http://rr; } }
  server { listen 8002; location / { proxy_pass http://iph; } }
  server { listen 8003; location / { proxy_pass http://plain; } }
  server { listen 8004; location / { proxy_pass http://cookie; } }
  server { listen 8005; location / { proxy_pass http://bin; } }
  server { listen 8006; location / { proxy_pass http://lc; } }
  server { listen 8007; location / { proxy_pass http://arg; } }
  server { listen 8008; location / { proxy_pass http://hdr; } }
  server { listen 8009; location / { proxy_pass http://mixed; } }
}`,
			listeners: []string{
				"rr-8001 0.0.0.0:8001 -> rr http", "iph-8002 0.0.0.0:8002 -> iph http", "plain-8003 0.0.0.0:8003 -> plain http",
				"cookie-8004 0.0.0.0:8004 -> cookie http key=cookie:sid", "bin-8005 0.0.0.0:8005 -> bin http", "lc-8006 0.0.0.0:8006 -> lc http",
				"arg-8007 0.0.0.0:8007 -> arg http key=query:room", "hdr-8008 0.0.0.0:8008 -> hdr http key=header:x-user-id",
				"mixed-8009 0.0.0.0:8009 -> mixed http",
			},
			upstreams: []string{
				"rr hash-consistent [app1.internal:80, 127.0.0.1:8000 w3]", "iph ip-hash [127.0.0.1:8001]", "plain hash [app2.internal:80]",
				"cookie hash-consistent [127.0.0.1:8002]", "bin hash-consistent [127.0.0.1:8003]", "lc hash-consistent [127.0.0.1:8004]",
				"arg hash [127.0.0.1:8005]", "hdr hash-consistent [127.0.0.1:8006]", "mixed hash-consistent [127.0.0.1:8007]",
			},
			notes: []string{
				"2 upstream: round robin", "2 server: no port: written as app1.internal:80",
				"6 hash: nginx hashes the 4 or 16 raw address bytes",
				"7 least_conn: not supported", "7 server: parameter slow_start", "7 server: TCP backends only",
				`10 hash: not supported: tether hashes the client address ($remote_addr) or a single $cookie_NAME, $arg_NAME or $http_NAME, not "$cookie_sid$remote_addr"`,
			},
		},
		{
			name: "proxy_protocol splits an upstream; stream and http namespaces",
			conf: `stream {
  upstream app { hash $remote_addr consistent; server 127.0.0.1:3001; server 127.0.0.1:3002; }
  server { listen 7000; proxy_pass app; proxy_protocol on; }
  server { listen 7001; proxy_pass app; }
  server { listen 7002; proxy_pass 127.0.0.1:9999; }
}
http {
  upstream app { hash $remote_addr consistent; server 127.0.0.1:4001; }
  server { listen 7003; location / { proxy_pass http://app; } }
  server { listen 7004; location / { proxy_pass http://127.0.0.1:5000/; } }
  server { listen 7005; location /api/ { proxy_pass http://127.0.0.1:5001/v2/; } }
}`,
			listeners: []string{
				"app-7000 0.0.0.0:7000 -> app-proxy-protocol none", "app-7001 0.0.0.0:7001 -> app none",
				"stream-7002 0.0.0.0:7002 -> 127.0.0.1:9999 none", "app-7003 0.0.0.0:7003 -> app-http http",
				"http-7004 0.0.0.0:7004 -> 127.0.0.1:5000 http", "http-7005 0.0.0.0:7005 -> 127.0.0.1:5001 http",
			},
			upstreams: []string{
				"app hash-consistent [127.0.0.1:3001, 127.0.0.1:3002]",
				"app-proxy-protocol hash-consistent [127.0.0.1:3001, 127.0.0.1:3002] pp=v1",
				"127.0.0.1:9999 hash-consistent [127.0.0.1:9999]",
				"app-http hash-consistent [127.0.0.1:4001]",
				"127.0.0.1:5000 hash-consistent [127.0.0.1:5000]",
				"127.0.0.1:5001 hash-consistent [127.0.0.1:5001]",
			},
			notes: []string{`11 proxy_pass: the URI part "/v2/" is not carried over`},
		},
		{
			name: "forwarding headers become forwarded_headers; a quiet timeout of 60s or less is carried and warned about",
			conf: `http {
  upstream web { hash $remote_addr consistent; server 127.0.0.1:4001; }
  server { listen 7010; location / { proxy_pass http://web; proxy_set_header X-Real-IP $remote_addr; proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for; proxy_read_timeout 60s; } }
  server { listen 7011; location / { proxy_pass http://web; proxy_set_header X-Forwarded-For $http_x_forwarded_for; proxy_read_timeout 61s; } }
}
stream {
  upstream app { hash $remote_addr consistent; server 127.0.0.1:3001; }
  server { listen 7012; proxy_pass app; proxy_timeout 30s; }
}`,
			listeners: []string{
				"web-7010 0.0.0.0:7010 -> web http forwarded idle=1m0s",
				"web-7011 0.0.0.0:7011 -> web http idle=1m1s",
				"app-7012 0.0.0.0:7012 -> app none idle=30s",
			},
			upstreams: []string{"web hash-consistent [127.0.0.1:4001]", "app hash-consistent [127.0.0.1:3001]"},
			notes: []string{
				`3 proxy_read_timeout: carried over as idle = "1m", but a WebSocket quiet for 1m is then cut`,
				"4 proxy_set_header: not carried over: forwarded_headers sets X-Forwarded-For",
				`8 proxy_timeout: carried over as idle = "30s", but a WebSocket quiet for 30s is then cut`,
			},
		},
		{
			name: "PROXY protocol in",
			conf: `stream {
  upstream app { hash $remote_addr consistent; server 127.0.0.1:3001; }
  upstream ppa { hash $proxy_protocol_addr consistent; server 127.0.0.1:3002; }
  server { listen 7000 proxy_protocol; set_real_ip_from 10.0.0.0/8; set_real_ip_from 192.168.1.7; proxy_protocol_timeout 5s; proxy_pass app; }
  server { listen 7001 proxy_protocol; proxy_pass app; }
  server { listen 7002 proxy_protocol; proxy_pass ppa; }
  server { listen 7003; set_real_ip_from 10.0.0.0/8; proxy_pass app; }
}
http {
  upstream web { hash $remote_addr consistent; server 127.0.0.1:4001; }
  server { listen 7004 proxy_protocol; set_real_ip_from 172.16.0.0/12; real_ip_header proxy_protocol; location / { proxy_pass http://web; } }
  server { listen 7005; set_real_ip_from 172.16.0.0/12; real_ip_header X-Forwarded-For; location / { proxy_pass http://web; } }
}`,
			listeners: []string{
				"app-7000 0.0.0.0:7000 -> app none proxy_in=[10.0.0.0/8 192.168.1.7/32]/5s",
				"app-7001 0.0.0.0:7001 -> app none proxy_in=[0.0.0.0/0 ::/0]/5s",
				"ppa-7002 0.0.0.0:7002 -> ppa none proxy_in=[0.0.0.0/0 ::/0]/5s",
				"app-7003 0.0.0.0:7003 -> app none",
				"web-7004 0.0.0.0:7004 -> web http proxy_in=[172.16.0.0/12]/5s",
				"web-7005 0.0.0.0:7005 -> web http",
			},
			upstreams: []string{"app hash-consistent [127.0.0.1:3001]", "ppa hash-consistent [127.0.0.1:3002]", "web hash-consistent [127.0.0.1:4001]"},
			notes: []string{
				"5 listen: parameter proxy_protocol without set_real_ip_from",
				"7 set_real_ip_from: has no effect without listen ... proxy_protocol",
				"12 set_real_ip_from: not supported yet: nginx takes the client address from the X-Forwarded-For header",
			},
		},
		{
			name: "virtual hosts on one address share a listener; certificates by SNI",
			conf: `http {
  upstream a { hash $remote_addr consistent; server 127.0.0.1:3001; }
  upstream b { hash $remote_addr consistent; server 127.0.0.1:3002; }
  server { listen 443 ssl; server_name site.example; ssl_certificate certs/site.pem; ssl_certificate_key certs/site.key;
    location / { proxy_pass http://a; } }
  server { listen 443 ssl default_server; server_name other.example; ssl_certificate certs/other.pem; ssl_certificate_key certs/other.key;
    location / { proxy_pass http://b; } }
  server { listen 444 ssl; server_name site.example; ssl_certificate certs/site.pem; ssl_certificate_key certs/site.key;
    location / { proxy_pass http://a; } }
  server { listen 444 ssl; server_name other.example; ssl_certificate certs/other.pem; ssl_certificate_key certs/other.key;
    location / { proxy_pass http://a; } }
}`,
			listeners: []string{"other.example-443 0.0.0.0:443 -> b http tls=2", "site.example-444 0.0.0.0:444 -> a http tls=2"},
			upstreams: []string{"a hash-consistent [127.0.0.1:3001]", "b hash-consistent [127.0.0.1:3002]"},
			notes:     []string{"4 listen: server blocks at"},
		},
		{
			name: "client certificates, legacy ssl on, header buffers, per-client limit, drain",
			conf: `worker_shutdown_timeout 45s;
http {
  limit_conn_zone $binary_remote_addr zone=perip:10m;
  limit_conn_zone $server_name zone=perserver:10m;
  upstream a { hash $remote_addr consistent; server 127.0.0.1:3001; }
  large_client_header_buffers 4 16k;
  server {
    listen 443;
    ssl on;
    ssl_certificate certs/site.pem;
    ssl_certificate_key certs/site.key;
    ssl_client_certificate certs/other.pem;
    ssl_verify_client optional;
    client_header_timeout 20s;
    limit_conn perip 20;
    limit_conn perserver 1000;
    location /ws {
      proxy_pass http://a;
      proxy_set_header Upgrade $http_upgrade;
      proxy_set_header Connection "upgrade";
      proxy_read_timeout 1d;
      proxy_connect_timeout 3;
    }
    location / { proxy_pass http://a; proxy_read_timeout 30s; }
    location /static/ { root /srv; }
  }
}`,
			listeners: []string{"a-443 0.0.0.0:443 -> a http tls=1 client=optional per_client=20 max_preamble=65536 preamble=20s connect=3s idle=24h0m0s"},
			upstreams: []string{"a hash-consistent [127.0.0.1:3001]"},
			notes: []string{
				"6 large_client_header_buffers: carried over as max_preamble = 65536",
				"16 limit_conn: limits connections per $server_name",
				"19 proxy_set_header: not needed: tether is L4", "20 proxy_set_header: not needed",
				"24 proxy_read_timeout: not carried over here",
				"25 location: location without proxy_pass", "4 limit_conn_zone: only carried over through limit_conn",
			},
			drain: 45 * time.Second,
		},
		{
			name: "session ticket keys",
			conf: `stream {
  upstream a { hash $remote_addr consistent; server 127.0.0.1:3001; }
  ssl_session_ticket_key certs/current.key;
  ssl_session_ticket_key certs/previous.key;
  server { listen 443 ssl; ssl_certificate certs/site.pem; ssl_certificate_key certs/site.key; proxy_pass a; }
}`,
			listeners: []string{"a-443 0.0.0.0:443 -> a none tls=1 ticket_keys=2"},
			upstreams: []string{"a hash-consistent [127.0.0.1:3001]"},
			notes:     []string{"3 ssl_session_ticket_key: carried over as session_ticket_key", "4 ssl_session_ticket_key: but not nginx's"},
		},
		{
			name: "key exchange groups",
			conf: `stream {
  upstream a { hash $remote_addr consistent; server 127.0.0.1:3001; }
  server { listen 443 ssl; ssl_ecdh_curve X25519:prime256v1:secp384r1; ssl_certificate certs/site.pem; ssl_certificate_key certs/site.key; proxy_pass a; }
  server { listen 444 ssl; ssl_ecdh_curve auto; ssl_certificate certs/site.pem; ssl_certificate_key certs/site.key; proxy_pass a; }
  server { listen 445 ssl; ssl_ecdh_curve X448:X25519; ssl_certificate certs/site.pem; ssl_certificate_key certs/site.key; proxy_pass a; }
}`,
			listeners: []string{"a-443 0.0.0.0:443 -> a none tls=1 curves=X25519,P-256,P-384", "a-444 0.0.0.0:444 -> a none tls=1", "a-445 0.0.0.0:445 -> a none tls=1"},
			upstreams: []string{"a hash-consistent [127.0.0.1:3001]"},
			notes: []string{"3 ssl_ecdh_curve: carried over as curves", "4 ssl_ecdh_curve: tether's default groups apply",
				`5 ssl_ecdh_curve: unknown key exchange group "X448"`},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res, cfg, _ := translateText(t, map[string]string{"nginx.conf": tc.conf,
				"certs/current.key": strings.Repeat("c", 80), "certs/previous.key": strings.Repeat("p", 48)})
			var ls, us []string
			for _, l := range cfg.Listeners {
				ls = append(ls, listenerSummary(l))
			}
			for _, u := range cfg.Upstreams {
				us = append(us, upstreamSummary(u))
			}
			slices.Sort(us)
			want := slices.Clone(tc.upstreams)
			slices.Sort(want)
			if !slices.Equal(ls, tc.listeners) {
				t.Errorf("listeners:\n got %q\nwant %q", ls, tc.listeners)
			}
			if !slices.Equal(us, want) {
				t.Errorf("upstreams:\n got %q\nwant %q", us, want)
			}
			if cfg.DrainTimeout != 30*time.Second && tc.drain == 0 || tc.drain != 0 && cfg.DrainTimeout != tc.drain {
				t.Errorf("drain_timeout %v, want %v", cfg.DrainTimeout, tc.drain)
			}
			for _, w := range tc.notes {
				if !hasNote(res, w) {
					t.Errorf("notes lack %q:\n%s", w, notesText(res))
				}
			}
			if t.Failed() {
				t.Logf("TOML:\n%s", res.TOML)
			}
		})
	}
}

// TestTranslateEveryDirectiveAccounted checks that a directive tether does not know is
// reported, as is every directive inside a block reported as a whole exactly once.
func TestTranslateEveryDirectiveAccounted(t *testing.T) {
	res, _, _ := translateText(t, map[string]string{"nginx.conf": `frobnicate on;
events { worker_connections 10; }
stream {
  upstream u { hash $remote_addr consistent; server 127.0.0.1:1; mystery 1; }
  map $x $y { default 1; }
  server { listen 1; proxy_pass u; whatever { deep 1; } }
}`})
	want := []string{
		"1 frobnicate: not carried over: tether has no equivalent",
		"2 events: not needed",
		"4 mystery: not carried over: tether has no equivalent",
		"5 map: not carried over: tether has no variables",
		"6 whatever: not carried over: tether has no equivalent of this block",
	}
	if len(res.Notes) != len(want) {
		t.Fatalf("%d notes, want %d:\n%s", len(res.Notes), len(want), notesText(res))
	}
	for i, w := range want {
		if n := res.Notes[i]; !strings.HasPrefix(fmt.Sprintf("%d %s: %s", n.Line, n.Directive, n.Why), w) {
			t.Errorf("note %d = %q, want %q", i, n, w)
		}
	}
}

func TestTranslateNothing(t *testing.T) {
	for _, text := range []string{
		"events {}",
		"http { server { listen 80; return 301 https://$host$request_uri; } }",
		"stream { server { listen 1; proxy_pass $dynamic; } }",
		"stream { upstream u { server unix:/x; } server { listen 1; proxy_pass u; } }",
	} {
		dirs, err := Parse("nginx.conf", []byte(text))
		if err != nil {
			t.Fatal(err)
		}
		res, err := Translate(fromDirectives("nginx.conf", "/", dirs))
		if !errors.Is(err, ErrNothingToImport) || res == nil || len(res.Notes) == 0 {
			t.Errorf("Translate(%q) = %v (notes %v), want ErrNothingToImport with notes", text, err, res)
		}
	}
}

// TestTranslateGuides imports the nginx configurations of the usual WebSocket guides
// (testdata/guides) and compares the TOML and the notes with the golden files; run with
// -update to rewrite them after an intended change. Every translation must load.
func TestTranslateGuides(t *testing.T) {
	certs := map[string][2]string{
		"stream-hash-ssl.conf":      {"certs/site.pem", "certs/site.key"},
		"socketio-sticky.conf":      {"certs/chat/fullchain.pem", "certs/chat/privkey.pem"},
		"websocket-map-iphash.conf": {},
	}
	for name, pair := range certs {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.CopyFS(dir, os.DirFS("testdata/guides")); err != nil {
				t.Fatal(err)
			}
			if pair[0] != "" {
				writeCert(t, dir, pair[0], pair[1], "chat.example.com")
			}
			c, err := Load(filepath.Join(dir, name), "")
			if err != nil {
				t.Fatal(err)
			}
			res, err := Translate(c)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := conf.Parse(filepath.Join(dir, "tether.toml"), res.TOML); err != nil {
				t.Fatalf("the translation does not load: %v\n%s", err, res.TOML)
			}
			got := strings.ReplaceAll(string(res.TOML)+"\n--- notes\n"+notesText(res), dir, "GUIDES")
			golden := filepath.Join("testdata/guides", strings.TrimSuffix(name, ".conf")+".golden")
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if got != string(want) {
				t.Errorf("translation differs from %s (go test -update rewrites it):\n%s", golden, got)
			}
			for _, n := range res.Notes {
				if strings.Contains(n.Why, "tether has no equivalent") {
					t.Errorf("a directive of a usual guide has no specific reason: %s", n)
				}
			}
		})
	}
}
