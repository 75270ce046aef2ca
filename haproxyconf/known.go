package haproxyconf

import "strings"

// whyNot says why a line was not carried over, by keyword.
func whyNot(section string, l *Line) string {
	kw := l.Keyword()
	if kw == "no" && len(l.Words) > 1 {
		kw = l.Words[1]
	}
	switch kw {
	case "log", "log-format", "log-tag", "log-send-hostname", "error-log-format":
		return "not needed: tether logs every connection as JSON lines on stderr"
	case "daemon", "master-worker", "user", "group", "uid", "gid", "chroot", "pidfile", "nbthread", "nbproc",
		"cpu-map", "ulimit-n", "node", "description", "localpeer", "hard-stop-after", "close-spread-time":
		return "not needed: process settings; run tether under your service manager"
	case "stats":
		return "not carried over: tether's status page and metrics are the [admin] listener"
	case "acl", "tcp-request", "tcp-response", "http-request", "http-response", "http-after-response":
		return "not carried over: tether has no ACLs or rules"
	case "retries", "option":
		if kw == "option" && len(l.Args()) > 0 {
			switch o := l.Args()[0]; {
			case o == "tcplog" || o == "httplog" || o == "dontlognull" || o == "logasap" || o == "log-health-checks":
				return "not needed: tether logs every connection as JSON lines on stderr"
			case o == "redispatch":
				return "not needed: after a failed connect tether tries the next server its balancer gives"
			case strings.HasPrefix(o, "http") || o == "forwardfor":
				return "not carried over: tether is L4 (see forwarded_headers for X-Forwarded-For)"
			}
		}
		if kw == "retries" {
			return "not carried over: tether tries each server at most once per connection"
		}
	case "timeout":
		return "not carried over: no tether timeout corresponds"
	case "mode", "balance", "hash-type", "hash-balance-factor", "server", "default-server", "bind", "maxconn":
		if section == "defaults" {
			return "not used by any section carried over"
		}
	}
	if strings.HasPrefix(kw, "ssl-") || strings.HasPrefix(kw, "tune.") {
		return "not carried over: tether's TLS and buffers have their own settings"
	}
	return "not carried over: tether has no equivalent"
}
