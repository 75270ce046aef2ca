// Package haproxyconf reads HAProxy 2.6 configuration files and translates the parts tether
// can carry over into tether's TOML configuration.
//
// The reader follows HAProxy's own line parser (parse_line in src/tools.c, as cfgparse.c calls
// it): words separated by blanks, "#" starting a comment outside quotes, double quotes (with
// backslash escapes), single quotes (literal) and backslash escapes outside quotes; sections
// start at a section keyword (global, defaults, frontend, backend, listen, ...), and every
// [Line] carries the file and line it was read from.
//
// [Translate] maps `mode tcp` frontends, listens and backends to tether listeners and
// upstreams: `balance source` keeps every client on the server HAProxy 2.6 gives it (server
// ids are written explicitly, numbered as HAProxy numbers them), and every line it cannot
// carry over is returned as a [Note] saying why, in the form of `tether import-nginx`.
package haproxyconf
