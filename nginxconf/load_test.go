package nginxconf

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// writeTree writes files (path -> content) under a new temporary directory.
func writeTree(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// TestLoadInclude follows ngx_conf_include: paths relative to the prefix (the main file's
// directory, not the including file's), globs in sorted order without hidden files, a glob
// may match nothing, included directives keep their own file and line.
func TestLoadInclude(t *testing.T) {
	dir := writeTree(t, map[string]string{
		"nginx.conf":            "a 1;\nhttp {\n  include conf.d/*.conf;\n  include none.d/*.conf;\n}\ninclude top.conf;\n",
		"conf.d/b.conf":         "b 2;\n\ninclude inner/c.conf;\n",
		"conf.d/a.conf":         "a 2;\n",
		"conf.d/.hidden.conf":   "hidden {",
		"conf.d/inner/c.conf":   "never read by the glob {",
		"inner/c.conf":          "c 3;\n",
		"top.conf":              "top {\n  x;\n}\n",
		"conf.d/sub.conf/x":     "a directory named like a match is skipped",
		"other/nginx.conf":      "include ../conf.d/a.conf;\n",
		"other/conf.d/a.conf":   "wrong 1;\n",
		"other/prefixed/a.conf": "prefixed 1;\n",
	})
	cfg, err := Load(filepath.Join(dir, "nginx.conf"), "")
	if err != nil {
		t.Fatal(err)
	}
	want := "a[1]@1 http[]@2{a[2]@1 b[2]@1 c[3]@1} top[]@1{x[]@2}"
	if got := dump(cfg.Directives); got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
	files := []string{cfg.Directives[1].Block[0].File, cfg.Directives[1].Block[2].File}
	if !strings.HasSuffix(files[0], "conf.d/a.conf") || !strings.HasSuffix(files[1], filepath.Join(dir, "inner/c.conf")) {
		t.Fatalf("included directives' files: %v", files)
	}
	// An explicit prefix (nginx -p) is what relative includes resolve against.
	cfg, err = Load(filepath.Join(dir, "other/nginx.conf"), filepath.Join(dir, "other/prefixed"))
	if err != nil {
		t.Fatal(err)
	}
	if got := dump(cfg.Directives); got != "wrong[1]@1" {
		t.Fatalf("with prefix: %s", got)
	}
}

func TestLoadErrors(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]string
		want  string
	}{
		{"missing file", map[string]string{"nginx.conf": "include missing.conf;"}, "nginx.conf:1: include missing.conf: no such file"},
		{"syntax error in an included file", map[string]string{"nginx.conf": "\ninclude a.conf;", "a.conf": "x {\n"}, "a.conf:2: unexpected end of file"},
		{"include loop", map[string]string{"nginx.conf": "include nginx.conf;"}, "nested more than"},
		{"include arguments", map[string]string{"nginx.conf": "include a b;"}, `invalid number of arguments in "include"`},
		{"bad glob", map[string]string{"nginx.conf": "include [;"}, "syntax error in pattern"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := writeTree(t, tc.files)
			_, err := Load(filepath.Join(dir, "nginx.conf"), "")
			var se *SyntaxError
			if !errors.As(err, &se) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Load: %v, want a *SyntaxError containing %q", err, tc.want)
			}
		})
	}
	if _, err := Load(filepath.Join(t.TempDir(), "absent.conf"), ""); err == nil {
		t.Fatal("Load of a missing file succeeded")
	}
}

// fromDirectives wraps directives that were parsed without a file (by Parse) so that they can
// be translated; relative paths resolve against prefix.
func fromDirectives(file, prefix string, dirs []*Directive) *Config {
	number(dirs, new(int))
	return &Config{File: file, Prefix: prefix, Directives: dirs}
}
