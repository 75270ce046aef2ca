package nginxconf

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// maxIncludeDepth bounds nested includes, so that a file including itself is an error rather
// than a hang (nginx runs out of file descriptors instead).
const maxIncludeDepth = 32

// Config is a loaded nginx configuration: the main file's directives with every `include`
// replaced by the directives of the files it names.
type Config struct {
	// File is the main configuration file as given to [Load].
	File string
	// Prefix is the directory relative include and certificate paths are resolved against:
	// nginx's conf_prefix, the directory of the main file unless [Load] was told otherwise.
	Prefix string
	// Directives are the top-level directives in document order.
	Directives []*Directive
}

// Load reads the nginx configuration file at path and expands its `include` directives, in
// any context, like ngx_conf_include (src/core/ngx_conf_file.c): a relative path is taken
// relative to prefix (when prefix is "", the directory of path, as nginx does for `-c FILE`);
// a path with one of "*?[" is a glob whose matches are read in sorted order, hidden files
// left out, and which may match nothing; any other path must exist.
func Load(path, prefix string) (*Config, error) {
	if prefix == "" {
		prefix = filepath.Dir(path)
	}
	if abs, err := filepath.Abs(prefix); err == nil {
		prefix = abs
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("nginx configuration: %w", err)
	}
	dirs, err := Parse(path, data)
	if err != nil {
		return nil, err
	}
	l := &loader{prefix: prefix}
	dirs, err = l.expand(dirs, 0)
	if err != nil {
		return nil, err
	}
	number(dirs, new(int))
	return &Config{File: path, Prefix: prefix, Directives: dirs}, nil
}

// number assigns document order.
func number(dirs []*Directive, n *int) {
	for _, d := range dirs {
		d.seq = *n
		*n++
		number(d.Block, n)
	}
}

type loader struct {
	prefix string
}

// expand replaces each include directive in dirs (and in their blocks) by the directives of
// the files it names.
func (l *loader) expand(dirs []*Directive, depth int) ([]*Directive, error) {
	out := make([]*Directive, 0, len(dirs))
	for _, d := range dirs {
		if d.Name != "include" || d.IsBlock() {
			if d.IsBlock() {
				inner, err := l.expand(d.Block, depth)
				if err != nil {
					return nil, err
				}
				d.Block = inner
			}
			out = append(out, d)
			continue
		}
		if len(d.Args) != 1 {
			return nil, &SyntaxError{File: d.File, Line: d.Line, Msg: `invalid number of arguments in "include" directive`}
		}
		if depth >= maxIncludeDepth {
			return nil, &SyntaxError{File: d.File, Line: d.Line, Msg: fmt.Sprintf("includes nested more than %d deep (does a file include itself?)", maxIncludeDepth)}
		}
		files, err := l.files(d)
		if err != nil {
			return nil, err
		}
		for _, f := range files {
			data, err := os.ReadFile(f)
			if err != nil {
				return nil, &SyntaxError{File: d.File, Line: d.Line, Msg: fmt.Sprintf("include %s: %v", d.Args[0], pathErr(err))}
			}
			inc, err := Parse(f, data)
			if err != nil {
				return nil, err
			}
			inc, err = l.expand(inc, depth+1)
			if err != nil {
				return nil, err
			}
			out = append(out, inc...)
		}
	}
	return out, nil
}

// files lists the files an include directive names, like ngx_conf_include.
func (l *loader) files(d *Directive) ([]string, error) {
	name := d.Args[0]
	if !filepath.IsAbs(name) {
		name = filepath.Join(l.prefix, name)
	}
	if !strings.ContainsAny(d.Args[0], "*?[") {
		return []string{name}, nil
	}
	matches, err := filepath.Glob(name)
	if err != nil {
		return nil, &SyntaxError{File: d.File, Line: d.Line, Msg: fmt.Sprintf("include %s: %v", d.Args[0], err)}
	}
	// glob(3) never lets a wildcard match a leading dot; filepath.Glob does.
	hiddenOK := strings.HasPrefix(filepath.Base(name), ".")
	files := matches[:0]
	for _, m := range matches {
		if strings.HasPrefix(filepath.Base(m), ".") && !hiddenOK {
			continue
		}
		if fi, err := os.Stat(m); err == nil && fi.IsDir() {
			continue // nginx would fail to read it as a file; a directory is never meant
		}
		files = append(files, m)
	}
	return files, nil
}

// pathErr drops the path os.PathError repeats.
func pathErr(err error) error {
	if pe, ok := err.(*fs.PathError); ok {
		return pe.Err
	}
	return err
}
