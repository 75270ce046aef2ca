// Command wspeer is the load peer of tether's end-to-end soak and fault tests (package e2e):
// WebSocket echo backends and crowds of wss:// clients, each a process of its own, so that
// thousands of connections stay out of the race-enabled test process (the race detector allows
// 8128 live goroutines) and within each process's open-file limit.
//
//	wspeer echo -listen 127.0.0.1:PORT [-name NAME]
//	    serve internal/websocket's EchoHandler on plain HTTP until killed; prints
//	    {"event":"listening","addr":...} once it accepts.
//	wspeer clients -target 127.0.0.1:PORT -ca cert.pem -n 9000 -src 127.20 [-hold 2m] ...
//	    open n wss:// connections through tether, hold them with periodic verified echoes
//	    on a sample, verify every one of them once more, close them; prints JSON progress
//	    lines (see report) and exits 1 when any connection failed or was lost.
package main

import (
	"encoding/json"
	"fmt"
	"os"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: wspeer echo|clients [flags]")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "echo":
		err = runEcho(os.Args[2:])
	case "clients":
		err = runClients(os.Args[2:])
	default:
		err = fmt.Errorf("unknown command %q (want echo or clients)", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "wspeer:", err)
		os.Exit(1)
	}
}

// emit prints v as one JSON line on stdout, the tests' progress channel.
func emit(v any) {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	os.Stdout.Write(append(b, '\n'))
}
