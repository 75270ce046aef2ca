// Package peertest runs the real peers of the tests (nginx, HAProxy) as processes: free ports
// for their configurations, and a start that waits until a peer listens.
package peertest

import (
	"bytes"
	"fmt"
	"net"
	"os/exec"
	"testing"
	"time"
)

// FreePorts returns n distinct ports that were free on 127.0.0.1 a moment ago.
func FreePorts(t testing.TB, n int) []int {
	t.Helper()
	var ports []int
	var lns []net.Listener
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		lns = append(lns, ln)
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	for _, ln := range lns {
		ln.Close()
	}
	return ports
}

// Run starts cmd (its output collected) and waits until 127.0.0.1:ready accepts a connection;
// the process is then killed in t.Cleanup and Run returns a nil error. When the process exits
// first, Run returns its output and exit error, for the caller to retry (a port was taken
// meanwhile) or fail. It fails t when the process neither listens nor exits within 10s.
func Run(t testing.TB, name string, cmd *exec.Cmd, ready int) (output string, exitErr error) {
	t.Helper()
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stop := func() {
		cmd.Process.Kill()
		<-exited
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", ready), time.Second)
		if err == nil {
			c.Close()
			t.Cleanup(stop)
			return "", nil
		}
		select {
		case err := <-exited:
			if err == nil {
				err = fmt.Errorf("%s exited", name)
			}
			return out.String(), err
		case <-time.After(50 * time.Millisecond):
			if time.Now().After(deadline) {
				stop()
				t.Fatalf("%s did not come up: %s", name, out.String())
			}
		}
	}
}
