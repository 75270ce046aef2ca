package balance

import (
	"bufio"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/tether-proxy/tether/hashing"
	"github.com/tether-proxy/tether/internal/nginxtest"
)

// holdBackend answers each connection with its name and a newline, keeps it open, and reports
// on closed when the proxy closes its side: by then nginx has released the peer.
func holdBackend(t *testing.T, name string, closed chan<- string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				io.WriteString(c, name+"\n")
				io.Copy(io.Discard, c)
				closed <- name
			}()
		}
	}()
	return ln.Addr().String()
}

// TestLeastConnParityWithNginx: a real nginx `stream { upstream { least_conn; } }` and tether's
// least-conn balancer, fed the same sequence of 400 tunnels opened one after another (some
// closed on the way), with weights, max_conns, a down and a backup server, choose the same
// server every time: the count per weight, nginx's weighted round robin among ties, and the
// backup once every primary is full.
func TestLeastConnParityWithNginx(t *testing.T) {
	nginxtest.Require(t)
	closed := make(chan string, 1000)
	names := []string{"a", "b", "c", "d", "e"}
	weights := []int{1, 3, 2, 1, 2}
	maxConns := []int{30, 60, 40, 0, 0}
	var peers []Peer
	var lines []string
	for i, n := range names {
		addr := holdBackend(t, n, closed)
		p := Peer{Name: addr, Weight: weights[i], Down: n == "d", Backup: n == "e"}
		peers = append(peers, p)
		line := fmt.Sprintf("server %s weight=%d", addr, p.Weight)
		if maxConns[i] > 0 {
			line += fmt.Sprintf(" max_conns=%d", maxConns[i])
		}
		if p.Down {
			line += " down"
		}
		if p.Backup {
			line += " backup"
		}
		lines = append(lines, "        "+line+";")
	}
	port := nginxtest.Start(t, 1, func(ports []int) string {
		return fmt.Sprintf("    upstream app {\n        least_conn;\n%s\n    }\n    server {\n        listen 127.0.0.1:%d;\n        proxy_pass app;\n    }\n",
			strings.Join(lines, "\n"), ports[0])
	})[0]
	bal, err := New("least-conn", peers, Options{})
	if err != nil {
		t.Fatal(err)
	}
	state := fakeState{st: make([]hashing.State, len(peers)), conns: make([]int, len(peers))}
	full := func() {
		for i, p := range peers {
			switch {
			case p.Down:
				state.st[i] = hashing.Down
			case maxConns[i] > 0 && state.conns[i] >= maxConns[i]:
				state.st[i] = hashing.Full
			default:
				state.st[i] = hashing.Usable
			}
		}
	}
	index := map[string]int{}
	for i, n := range names {
		index[n] = i
	}
	type open struct {
		c    net.Conn
		peer int
	}
	var held []open
	rng := rand.New(rand.NewPCG(4, 400))
	for i := range 400 {
		if len(held) > 0 && rng.IntN(3) == 0 {
			k := rng.IntN(len(held))
			h := held[k]
			held = append(held[:k], held[k+1:]...)
			h.c.Close()
			select {
			case n := <-closed:
				state.conns[index[n]]--
			case <-time.After(10 * time.Second):
				t.Fatal("nginx did not close the backend side of a closed tunnel")
			}
		}
		c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		got, err := bufio.NewReader(c).ReadString('\n')
		if err != nil {
			t.Fatalf("tunnel %d: %v", i, err)
		}
		var a hashing.Attempt
		full()
		bal.Start(&a, nil)
		p := bal.Next(&a, state)
		if want := names[p]; strings.TrimSpace(got) != want {
			t.Fatalf("tunnel %d: nginx chose %s, tether %s (open tunnels %v)", i, strings.TrimSpace(got), want, state.conns)
		}
		state.conns[p]++
		held = append(held, open{c, p})
	}
	if state.conns[4] == 0 {
		t.Fatal("the backup server never got a tunnel: the test does not reach nginx's backup pass")
	}
	t.Logf("400 tunnels, nginx least_conn == tether; open at the end %v", state.conns)
}
