package upstream

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"

	proxyproto "github.com/pires/go-proxyproto"
)

// TestActiveTCPCheck stops one of three backends: its checks fail, it turns unhealthy and is
// skipped without being dialled; started again, it rises and gets its clients back. Every
// change is logged.
func TestActiveTCPCheck(t *testing.T) {
	b1, b2, b3 := startBackend(t, "127.0.0.1:0"), startBackend(t, "127.0.0.1:0"), startBackend(t, "127.0.0.1:0")
	u := parseUpstream(t, fmt.Sprintf(`servers = ["%s", "%s", "%s"]
health_check = { type = "tcp", interval = "100ms", timeout = "100ms", rise = 2, fall = 2 }
`, b1.addr, b2.addr, b3.addr))
	p, logs := startPool(t, u)
	defer checkNoLeaks(t)
	defer p.Close()

	key := keyFor(t, p, b2.addr)
	waitFor(t, "a first passed check of "+b2.addr, func() bool { s := status(t, p, b2.addr); return s.Checked && s.CheckOK })

	b2.stop()
	waitFor(t, b2.addr+" unhealthy", func() bool { return status(t, p, b2.addr).State == StateUnhealthy })
	st := status(t, p, b2.addr)
	if st.CheckOK || !strings.Contains(st.CheckErr, "refused") {
		t.Errorf("status of the stopped backend: %+v", st)
	}
	recs := logs.records("backend unhealthy")
	if len(recs) != 1 || recs[0]["backend"] != b2.addr || recs[0]["server"] != b2.addr || recs[0]["upstream"] != "app" ||
		!strings.Contains(fmt.Sprint(recs[0]["reason"]), "refused") {
		t.Errorf("unhealthy log lines: %v", recs)
	}

	d := &recordingDialer{}
	c, lease, err := p.Connect(context.Background(), key, d, quiet)
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	lease.Release()
	if calls := d.take(); slices.Contains(calls, b2.addr) || len(calls) != 1 {
		t.Errorf("an unhealthy backend was dialled: %v", calls)
	}

	b2.start()
	waitFor(t, b2.addr+" healthy again", func() bool { return status(t, p, b2.addr).State == StateUp })
	if recs := logs.records("backend healthy"); len(recs) != 1 || recs[0]["backend"] != b2.addr {
		t.Errorf("healthy log lines: %v", recs)
	}
	c, lease, err = p.Connect(context.Background(), key, d, quiet)
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	lease.Release()
	if lease.String() != b2.addr {
		t.Errorf("after recovery the client went to %s, want %s", lease, b2.addr)
	}
}

// TestHTTPCheck runs HTTP checks against a real HTTP server for each way a check passes or
// fails, and checks the request the backend saw.
func TestHTTPCheck(t *testing.T) {
	tests := []struct {
		name    string
		check   string // the health_check table's extra keys
		proxy   string // the upstream's proxy_protocol
		status  int    // the backend's answer
		hang    bool   // the backend never answers
		healthy bool
		path    string // the request target the backend must see
		host    string // the Host it must see; "" means the server name
	}{
		{name: "200 passes", status: 200, healthy: true, path: "/"},
		{name: "503 fails", status: 503, healthy: false, path: "/"},
		{name: "a redirect passes by default and is not followed", status: 302, healthy: true, path: "/"},
		{name: "404 fails by default", status: 404, healthy: false, path: "/"},
		{name: "expect_status list", check: `expect_status = [204, "500-502"]`, status: 501, healthy: true, path: "/"},
		{name: "expect_status excludes 200", check: `expect_status = 204`, status: 200, healthy: false, path: "/"},
		{name: "path and host", check: `path = "/healthz?deep=1"` + "\nhost = \"app.example\"", status: 200, healthy: true,
			path: "/healthz?deep=1", host: "app.example"},
		{name: "timeout fails", hang: true, healthy: false, path: "/"},
		{name: "PROXY v1 header first", proxy: "v1", status: 200, healthy: true, path: "/"},
		{name: "PROXY v2 LOCAL header first", proxy: "v2", status: 200, healthy: true, path: "/"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			var mu sync.Mutex
			var seen []string // "host path user-agent"
			var headers []*proxyproto.Header
			if tc.proxy != "" {
				ln = &proxyproto.Listener{Listener: ln, ValidateHeader: func(h *proxyproto.Header) error {
					mu.Lock()
					headers = append(headers, h)
					mu.Unlock()
					return nil
				}, ConnPolicy: func(proxyproto.ConnPolicyOptions) (proxyproto.Policy, error) { return proxyproto.REQUIRE, nil }}
			}
			srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				mu.Lock()
				seen = append(seen, r.Host+" "+r.RequestURI+" "+r.UserAgent())
				mu.Unlock()
				if tc.hang {
					<-r.Context().Done()
					return
				}
				if tc.status == 302 {
					w.Header().Set("Location", "http://127.0.0.1:1/elsewhere")
				}
				w.WriteHeader(tc.status)
			})}
			go srv.Serve(ln)
			defer srv.Close()

			addr := ln.Addr().String()
			body := fmt.Sprintf("servers = [\"%s\"]\n", addr)
			if tc.proxy != "" {
				body += fmt.Sprintf("proxy_protocol = %q\n", tc.proxy)
			}
			body += "[upstreams.app.health_check]\ntype = \"http\"\ninterval = \"100ms\"\ntimeout = \"100ms\"\nrise = 1\nfall = 1\n" + tc.check + "\n"
			p, _ := startPool(t, parseUpstream(t, body))
			defer checkNoLeaks(t)
			defer p.Close()
			if tc.healthy {
				waitFor(t, "a passed check", func() bool { s := status(t, p, addr); return s.Checked && s.CheckOK })
			} else {
				waitFor(t, "unhealthy", func() bool { return status(t, p, addr).State == StateUnhealthy })
			}
			p.Close()
			srv.Close()

			host := tc.host
			if host == "" {
				host = addr
			}
			mu.Lock()
			defer mu.Unlock()
			want := host + " " + tc.path + " " + userAgent
			if len(seen) == 0 || seen[0] != want {
				t.Errorf("backend saw %q, want %q", seen, want)
			}
			if tc.status == 302 && len(seen) > 0 && strings.Contains(strings.Join(seen, ","), "elsewhere") {
				t.Errorf("the redirect was followed: %q", seen)
			}
			if tc.proxy != "" {
				if len(headers) == 0 {
					t.Fatal("no PROXY header received")
				}
				h := headers[0]
				if int(h.Version) != int(tc.proxy[1]-'0') || h.Command != proxyproto.LOCAL && tc.proxy == "v2" ||
					h.TransportProtocol != proxyproto.UNSPEC {
					t.Errorf("PROXY header %+v, want version %s UNKNOWN/LOCAL", h, tc.proxy)
				}
			}
		})
	}
}

// TestCheckPROXYBytes pins the health-check PROXY headers to proxy-protocol.txt and to a
// parser's reading of them.
func TestCheckPROXYBytes(t *testing.T) {
	for _, b := range [][]byte{checkProxyV1, checkProxyV2} {
		h, err := proxyproto.Read(bufio.NewReader(strings.NewReader(string(b))))
		if err != nil {
			t.Fatalf("%q: %v", b, err)
		}
		if h.Command != proxyproto.LOCAL || h.TransportProtocol != proxyproto.UNSPEC {
			t.Errorf("%q parsed as %+v, want LOCAL/UNSPEC", b, h)
		}
	}
}
