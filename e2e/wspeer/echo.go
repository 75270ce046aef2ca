package main

import (
	"flag"
	"fmt"
	"net"
	"net/http"

	"github.com/tether-proxy/tether/internal/websocket"
)

// runEcho serves a WebSocket echo backend: every upgraded connection first gets
// "hello from NAME, you are ADDR", then each message back unchanged (websocket.EchoHandler).
func runEcho(args []string) error {
	fs := flag.NewFlagSet("echo", flag.ContinueOnError)
	listen := fs.String("listen", "127.0.0.1:0", "address to serve plain HTTP on")
	name := fs.String("name", "echo", "backend name in the hello message")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return fmt.Errorf("echo: %w", err)
	}
	emit(map[string]string{"event": "listening", "addr": ln.Addr().String(), "name": *name})
	srv := &http.Server{Handler: websocket.EchoHandler(*name, nil)}
	return srv.Serve(ln)
}
