package main

import (
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/tether-proxy/tether/conf"
)

var testBackends = []string{"127.0.0.1:3001", "127.0.0.1:3002", "127.0.0.1:3003"}

// requirePeer skips when a peer program is missing, or fails when TETHER_REQUIRE_PEERS=1.
func requirePeer(t *testing.T, path, pkg string) {
	t.Helper()
	if path != "" {
		return
	}
	if os.Getenv("TETHER_REQUIRE_PEERS") == "1" {
		t.Fatalf("%s is required (TETHER_REQUIRE_PEERS=1): apt-get install %s", pkg, pkg)
	}
	t.Skipf("%s not installed; apt-get install %s", pkg, pkg)
}

// TestTetherConfigAdmin: no [admin] table unless -profile gives tether an admin port, and
// then pprof on that loopback port.
func TestTetherConfigAdmin(t *testing.T) {
	dir := t.TempDir()
	cert, err := writeCert(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		ports listenPorts
		want  *conf.Admin
	}{
		{"without -profile", listenPorts{Plain: 4000, TLS: 4001, RSA: 4003}, nil},
		{"with -profile", listenPorts{Plain: 4000, TLS: 4001, RSA: 4003, Admin: 4002},
			&conf.Admin{Listen: "127.0.0.1:4002", Addr: netip.MustParseAddrPort("127.0.0.1:4002"), Pprof: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			text := tetherConfig(tc.ports, testBackends, cert)
			cfg, err := conf.Parse(filepath.Join(dir, "tether.toml"), []byte(text))
			if err != nil {
				t.Fatalf("conf.Parse: %v\n%s", err, text)
			}
			if !reflect.DeepEqual(cfg.Admin, tc.want) {
				t.Errorf("admin = %+v, want %+v\n%s", cfg.Admin, tc.want, text)
			}
		})
	}
}

// TestTetherConfig: tether's own parser accepts the generated file and reads it as meant.
func TestTetherConfig(t *testing.T) {
	dir := t.TempDir()
	cert, err := writeCert(dir)
	if err != nil {
		t.Fatal(err)
	}
	text := tetherConfig(listenPorts{Plain: 4000, TLS: 4001, RSA: 4002}, testBackends, cert)
	cfg, err := conf.Parse(filepath.Join(dir, "tether.toml"), []byte(text))
	if err != nil {
		t.Fatalf("conf.Parse: %v\n%s", err, text)
	}
	if len(cfg.Listeners) != 3 {
		t.Fatalf("%d listeners, want 3", len(cfg.Listeners))
	}
	for i, want := range []struct {
		addr string
		cert string // "" for plain
	}{{"127.0.0.1:4000", ""}, {"127.0.0.1:4001", cert.ECDSA.Cert}, {"127.0.0.1:4002", cert.RSA.Cert}} {
		l := cfg.Listeners[i]
		got := ""
		if l.TLS != nil && len(l.TLS.Certs) == 1 {
			got = l.TLS.Certs[0].Cert
		}
		if l.Addr.String() != want.addr || got != want.cert || l.Preamble != conf.PreambleNone || l.Upstream != "backends" {
			t.Errorf("listener %d = %s cert=%q preamble=%s upstream=%s; want %s cert=%q preamble none, upstream backends",
				i, l.Addr, got, l.Preamble, l.Upstream, want.addr, want.cert)
		}
	}
	u := cfg.Upstreams["backends"]
	if u == nil || u.Balance != conf.BalanceHashConsistent || len(u.Servers) != len(testBackends) {
		t.Fatalf("upstream = %+v, want hash-consistent over %v", u, testBackends)
	}
	for i, s := range u.Servers {
		if s.Name != testBackends[i] {
			t.Errorf("server %d = %q, want %q", i, s.Name, testBackends[i])
		}
	}
}

// TestNginxConfig: `nginx -t` accepts the generated file, which holds what makes the
// comparison fair.
func TestNginxConfig(t *testing.T) {
	p := findPeers()
	requirePeer(t, p.Nginx, "nginx")
	requirePeer(t, p.StreamModule, "libnginx-mod-stream")
	dir := t.TempDir()
	cert, err := writeCert(dir)
	if err != nil {
		t.Fatal(err)
	}
	s := nginxSetup{Dir: dir, StreamModule: p.StreamModule, Root: os.Geteuid() == 0, NoFile: 20000}
	text := nginxConfig(s, listenPorts{Plain: 4000, TLS: 4001, RSA: 4002}, testBackends, cert)
	for _, want := range []string{
		"master_process off;", "worker_processes 1;", "daemon off;", "worker_rlimit_nofile 20000;",
		"worker_connections 19500;", "hash $remote_addr consistent;", "listen 127.0.0.1:4000 backlog=4096;",
		"listen 127.0.0.1:4001 ssl backlog=4096;", "ssl_certificate " + cert.ECDSA.Cert + ";",
		"listen 127.0.0.1:4002 ssl backlog=4096;", "ssl_certificate " + cert.RSA.Cert + ";", "server 127.0.0.1:3003;",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("nginx.conf lacks %q:\n%s", want, text)
		}
	}
	path := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(p.Nginx, "-t", "-p", dir, "-c", path, "-e", filepath.Join(dir, "error.log")).CombinedOutput(); err != nil {
		t.Fatalf("nginx -t: %v\n%s\n%s", err, out, text)
	}
}

// TestHAProxyConfig: `haproxy -c` accepts every variant, and the variants differ only in
// their splice options.
func TestHAProxyConfig(t *testing.T) {
	p := findPeers()
	requirePeer(t, p.HAProxy, "haproxy")
	dir := t.TempDir()
	cert, err := writeCert(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		mode spliceMode
		want []string
		not  []string
	}{
		{spliceOff, nil, []string{"splice"}},
		{spliceAuto, []string{"option splice-auto"}, []string{"splice-request"}},
		{spliceOn, []string{"option splice-request", "option splice-response"}, []string{"splice-auto"}},
	} {
		text := haproxyConfig(haproxySetup{Splice: tc.mode, MaxConn: 9100, MaxPipes: 800}, listenPorts{Plain: 4000, TLS: 4001, RSA: 4002}, testBackends, cert)
		for _, w := range append(tc.want, "nbthread 1", "mode tcp", "balance source", "hash-type consistent",
			"maxconn 9100", "maxpipes 800", "bind 127.0.0.1:4001 ssl crt "+cert.ECDSA.Both,
			"bind 127.0.0.1:4002 ssl crt "+cert.RSA.Both, "server b3 127.0.0.1:3003") {
			if !strings.Contains(text, w) {
				t.Errorf("splice mode %d: config lacks %q:\n%s", tc.mode, w, text)
			}
		}
		for _, n := range tc.not {
			if strings.Contains(text, n) {
				t.Errorf("splice mode %d: config has %q:\n%s", tc.mode, n, text)
			}
		}
		path := filepath.Join(dir, "haproxy.cfg")
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		if out, err := exec.Command(p.HAProxy, "-c", "-f", path).CombinedOutput(); err != nil {
			t.Fatalf("haproxy -c: %v\n%s\n%s", err, out, text)
		}
	}
}
