// Command tether is an L4 TCP/TLS edge proxy for WebSocket traffic that keeps every client on
// the backend nginx would choose (hash, hash consistent, ip_hash; the key from the client
// address, a header, a cookie or a query argument) or HAProxy would (balance source).
//
// Usage (the text of `tether help`, which is the reference):
//
//	tether run -c FILE          serve the configuration in FILE
//	tether check -c FILE        validate FILE (like nginx -t) and print every problem with its position
//	tether lookup -c FILE [-u UPSTREAM | -l LISTENER] ADDR...
//	                            print the backend each client address is sent to
//	tether import-nginx [-dir DIR] FILE
//	                            print the tether configuration equivalent to an nginx.conf
//	tether import-haproxy [-dir DIR] FILE
//	                            print the tether configuration equivalent to a haproxy.cfg
//	tether diff [-n N] [-seed S] [-addrs FILE] OLD NEW
//	                            preview which clients a configuration change moves
//	tether demo [-listen ADDR]  run a TLS listener in front of built-in WebSocket echo backends
//	tether version              print the version
package main

import (
	"fmt"
	"io"
	"os"
)

const usage = `tether: an L4 TCP/TLS edge proxy for WebSocket traffic

Usage:
  tether run -c FILE          serve the configuration in FILE
  tether check -c FILE        validate FILE (like nginx -t) and print every problem with its position
  tether lookup -c FILE [-u UPSTREAM | -l LISTENER] ADDR...
                              print "<addr> <backend address> <server name>" for each client address
                              (the backend a live connection from ADDR gets with all backends healthy)
  tether import-nginx [-dir DIR] FILE
                              print the tether configuration equivalent to an nginx.conf (with its
                              includes); what cannot be carried over is listed on stderr
  tether import-haproxy [-dir DIR] FILE
                              print the tether configuration equivalent to a haproxy.cfg; what
                              cannot be carried over is listed on stderr
  tether diff [-n N] [-seed S] [-addrs FILE] OLD NEW
                              per upstream: the share of clients a change from config OLD to NEW
                              moves to another backend, from which backend to which, ring shares
  tether demo [-listen ADDR]  zero-config demo: TLS listener + 3 built-in WebSocket echo backends
  tether version              print the version

Run "tether COMMAND -h" for a command's flags.
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run dispatches to a command and returns the process exit code.
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "run":
		return cmdRun(rest, stdout, stderr)
	case "check":
		return cmdCheck(rest, stdout, stderr)
	case "lookup":
		return cmdLookup(rest, stdout, stderr)
	case "demo":
		return cmdDemo(rest, stdout, stderr)
	case "import-nginx":
		return cmdImportNginx(rest, stdout, stderr)
	case "import-haproxy":
		return cmdImportHAProxy(rest, stdout, stderr)
	case "diff":
		return cmdDiff(rest, stdout, stderr)
	case "version", "-version", "--version":
		fmt.Fprintln(stdout, versionString())
		return 0
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	}
	fmt.Fprintf(stderr, "tether: unknown command %q\n\n%s", cmd, usage)
	return 2
}
