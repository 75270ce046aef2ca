package main

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/BurntSushi/toml"
	"github.com/tether-proxy/tether/conf"
	"github.com/tether-proxy/tether/tlsterm"
)

// exampleCerts lists the certificate and key files a configuration names, from every
// [listeners.tls] table and its certs entries.
func exampleCerts(t *testing.T, path string) [][2]string {
	t.Helper()
	var doc struct {
		Listeners []struct {
			TLS *struct {
				Cert, Key string
				Certs     []struct{ Cert, Key string }
			}
		}
	}
	if _, err := toml.DecodeFile(path, &doc); err != nil {
		t.Fatal(err)
	}
	var pairs [][2]string
	for _, l := range doc.Listeners {
		if l.TLS == nil {
			continue
		}
		pairs = append(pairs, [2]string{l.TLS.Cert, l.TLS.Key})
		for _, c := range l.TLS.Certs {
			pairs = append(pairs, [2]string{c.Cert, c.Key})
		}
	}
	return pairs
}

// certName is the host name a demo certificate file stands for: certs/chat.example.com.pem is
// chat.example.com, certs/wildcard.example.net.pem is *.example.net.
func certName(path string) string {
	name := strings.TrimSuffix(filepath.Base(path), filepath.Ext(path))
	if rest, ok := strings.CutPrefix(name, "wildcard."); ok {
		return "*." + rest
	}
	return name
}

// TestExamples runs `tether check` on every examples/*.toml, in a copy with self-signed
// certificates at the paths each one names.
func TestExamples(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob("../../examples/*.toml")
	if err != nil || len(files) < 4 {
		t.Fatalf("examples: %v %v", files, err)
	}
	dir := t.TempDir()
	if err := os.CopyFS(dir, os.DirFS("../../examples")); err != nil {
		t.Fatal(err)
	}
	written := map[string]bool{}
	for _, f := range files {
		path := filepath.Join(dir, filepath.Base(f))
		text, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(string(text), "# ") {
			t.Errorf("%s does not start with a comment explaining the scenario", f)
		}
		for _, p := range exampleCerts(t, path) {
			if written[p[0]] {
				continue
			}
			written[p[0]] = true
			cert, err := tlsterm.SelfSigned(certName(p[0]))
			if err != nil {
				t.Fatal(err)
			}
			tmp := t.TempDir()
			c, k, err := tlsterm.WritePEM(tmp, cert)
			if err != nil {
				t.Fatal(err)
			}
			for from, to := range map[string]string{c: p[0], k: p[1]} {
				to = filepath.Join(dir, to)
				if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.Rename(from, to); err != nil {
					t.Fatal(err)
				}
			}
		}
		code, stdout, stderr := runTether(t, "", "check", "-c", path)
		if code != 0 || !strings.Contains(stdout, "test is successful") {
			t.Errorf("tether check %s: exit %d\n%s%s", filepath.Base(f), code, stdout, stderr)
		}
	}
}

// TestExampleMigrationMatchesImport imports the nginx configuration quoted in
// nginx-stream-hash-migration.toml and checks that the example keeps what decides where
// clients go: the listen addresses, the upstream's balance, PROXY protocol and server lines
// (the idle timeout is deliberately longer than nginx's 10m in the example).
func TestExampleMigrationMatchesImport(t *testing.T) {
	t.Parallel()
	const example = "../../examples/nginx-stream-hash-migration.toml"
	text, err := os.ReadFile(example)
	if err != nil {
		t.Fatal(err)
	}
	var ngx strings.Builder
	in := false
	for _, l := range strings.Split(string(text), "\n") {
		body, ok := strings.CutPrefix(l, "#   ")
		switch {
		case ok && strings.HasPrefix(body, "stream {"):
			in = true
		case !ok:
			in = false
		}
		if in {
			ngx.WriteString(body + "\n")
		}
	}
	dir := t.TempDir()
	writeCertAt(t, dir, "certs/site.pem", "certs/site.key")
	code, imported, notes := runTether(t, "", "import-nginx", writeFile(t, dir, "nginx.conf", ngx.String()))
	if code != 0 {
		t.Fatalf("import-nginx of the quoted nginx.conf: exit %d\n%s\n%s", code, notes, ngx.String())
	}
	got, err := conf.Parse(filepath.Join(dir, "imported.toml"), []byte(imported))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.CopyFS(filepath.Join(dir, "ex"), os.DirFS("../../examples")); err != nil {
		t.Fatal(err)
	}
	writeCertAt(t, filepath.Join(dir, "ex"), "certs/site.pem", "certs/site.key")
	want, err := conf.Load(filepath.Join(dir, "ex", filepath.Base(example)))
	if err != nil {
		t.Fatal(err)
	}
	summary := func(c *conf.Config) []string {
		var s []string
		for _, l := range c.Listeners {
			u := c.Upstreams[l.Upstream]
			s = append(s, fmt.Sprintf("%s ipv6only=%v %s %s pp=%s connect=%v servers=%v",
				l.Listen, l.IPv6Only, l.Preamble, u.Balance, u.ProxyProtocol, l.Timeouts.Connect, u.Servers))
		}
		slices.Sort(s)
		return s
	}
	if g, w := summary(got), summary(want); !reflect.DeepEqual(g, w) {
		t.Fatalf("the example differs from the import of the nginx.conf it quotes:\nimport:  %q\nexample: %q\n%s", g, w, imported)
	}
}
