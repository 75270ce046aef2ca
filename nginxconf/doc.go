// Package nginxconf reads nginx configuration files and translates the parts tether can
// carry over into tether's TOML configuration.
//
// The reader follows nginx 1.22's own (src/core/ngx_conf_file.c): the same tokens
// (whitespace, ";", "{" and "}", "#" comments at the start of a token, single- and
// double-quoted strings, backslash escapes, "${var}"), the same errors, and `include`
// resolved like ngx_conf_include: relative paths against the configuration prefix (the
// directory of the main file, nginx's conf_prefix), globs expanded in sorted order, a glob
// that matches nothing allowed. Every [Directive] carries the file and line it was read from.
//
// [Translate] maps `stream {}` and `http {}` upstreams, `server {}` blocks and their
// listen, TLS, timeout and PROXY protocol directives to a tether configuration, keeping
// upstream and server names and their order exactly (tether's hash ring depends on them). Every
// directive it cannot carry over is returned as a [Note] saying why.
package nginxconf
