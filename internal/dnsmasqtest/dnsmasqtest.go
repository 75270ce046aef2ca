// Package dnsmasqtest starts a real DNS server for tether's `resolve` tests: Debian's dnsmasq
// as a foreground child process on a loopback port, answering only from a hosts file that the
// test rewrites (SIGHUP makes dnsmasq read it again) and from SRV records given on its command
// line (replaced by a restart on the same port), killed when the test ends.
package dnsmasqtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Binary is Debian's dnsmasq (package dnsmasq-base).
const Binary = "/usr/sbin/dnsmasq"

// Domain is the zone the server is authoritative for: names under it that are not in the hosts
// file get NXDOMAIN.
const Domain = "test"

// Require skips t when dnsmasq is missing, or fails it when the environment demands real peers
// (TETHER_REQUIRE_PEERS=1, set by scripts/test).
func Require(t testing.TB) {
	t.Helper()
	if _, err := os.Stat(Binary); err != nil {
		if os.Getenv("TETHER_REQUIRE_PEERS") == "1" {
			t.Fatalf("dnsmasq is required (TETHER_REQUIRE_PEERS=1): %v", err)
		}
		t.Skipf("dnsmasq not installed (%v); apt-get install dnsmasq-base", err)
	}
}

// Server is a running dnsmasq.
type Server struct {
	t      testing.TB
	Addr   netip.AddrPort // where it answers, over UDP and TCP
	hosts  string
	opt    Options
	cmd    *exec.Cmd
	out    *bytes.Buffer
	exited chan struct{} // closed when cmd has exited
}

// Options tune the server.
type Options struct {
	// TTL is the TTL of every answer, in seconds (dnsmasq --local-ttl; its default is 0).
	TTL int
	// CNAMEs maps alias names to their targets (dnsmasq --cname); targets must be in the hosts.
	CNAMEs map[string]string
	// SRV are the SRV records served (dnsmasq --srv-host), in order.
	SRV []SRV
	// Netns, when set, runs dnsmasq in that network namespace (ip netns exec); Listen must
	// then be an address of it and Dial must reach it, for the readiness probes.
	Netns string
	// Listen, when valid, is where dnsmasq answers instead of a free port of 127.0.0.1.
	Listen netip.AddrPort
	// Dial, when set, opens the probes' connections to the server (Resolver uses it).
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
}

// SRV is one SRV record (RFC 2782). An empty Target makes dnsmasq answer that the service is
// not available (a record whose target is ".").
type SRV struct {
	Name, Target           string // e.g. "_http._tcp.app.test", "b1.test"
	Port, Priority, Weight uint16
}

// Start runs dnsmasq answering hosts (name -> addresses, names under Domain) and waits until it
// answers. dnsmasq is killed in t.Cleanup.
func Start(t testing.TB, opt Options, hosts map[string][]string) *Server {
	t.Helper()
	Require(t)
	dir := t.TempDir()
	s := &Server{t: t, hosts: filepath.Join(dir, "hosts"), opt: opt}
	s.write(hosts)
	for attempt := 1; ; attempt++ {
		if opt.Listen.IsValid() {
			s.Addr = opt.Listen
		} else {
			s.Addr = netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(freeUDPPort(t)))
		}
		err := s.run()
		if err == nil {
			t.Cleanup(s.stop)
			return s
		}
		if attempt == 10 || !strings.Contains(s.out.String(), "in use") {
			t.Fatalf("dnsmasq did not start: %v\n%s", err, s.out)
		}
	}
}

// run starts dnsmasq on s.Addr with s.opt and waits until it answers; on failure it is killed.
func (s *Server) run() error {
	args := []string{"--no-daemon", "--conf-file=/dev/null", "--pid-file=", "--log-facility=-",
		fmt.Sprintf("--port=%d", s.Addr.Port()), "--listen-address=" + s.Addr.Addr().String(), "--bind-interfaces",
		"--no-resolv", "--no-hosts", "--addn-hosts=" + s.hosts, "--local=/" + Domain + "/",
		fmt.Sprintf("--local-ttl=%d", s.opt.TTL)}
	if os.Geteuid() == 0 {
		args = append(args, "--user=root") // keep reading the test's private directory after SIGHUP
	}
	for alias, target := range s.opt.CNAMEs {
		args = append(args, "--cname="+alias+","+target)
	}
	for _, r := range s.opt.SRV {
		arg := "--srv-host=" + r.Name
		if r.Target != "" {
			arg += fmt.Sprintf(",%s,%d,%d,%d", r.Target, r.Port, r.Priority, r.Weight)
		}
		args = append(args, arg)
	}
	s.out = &bytes.Buffer{}
	s.cmd = exec.Command(Binary, args...)
	if s.opt.Netns != "" {
		s.cmd = exec.Command("ip", append([]string{"netns", "exec", s.opt.Netns, Binary}, args...)...)
	}
	s.cmd.Stdout, s.cmd.Stderr = s.out, s.out
	if err := s.cmd.Start(); err != nil {
		s.t.Fatalf("start dnsmasq: %v", err)
	}
	s.exited = make(chan struct{})
	go func(cmd *exec.Cmd, exited chan struct{}) { cmd.Wait(); close(exited) }(s.cmd, s.exited)
	err := s.waitReady(s.exited)
	if err != nil {
		s.stop()
	}
	return err
}

// stop kills dnsmasq and waits for it.
func (s *Server) stop() {
	s.cmd.Process.Kill()
	<-s.exited
}

// SetSRV replaces the SRV records: dnsmasq reads --srv-host only at start, so it is restarted
// on the same address (a few tries if the port is taken meanwhile) and waited for.
func (s *Server) SetSRV(records []SRV) {
	s.t.Helper()
	s.stop()
	s.opt.SRV = records
	for attempt := 1; ; attempt++ {
		err := s.run()
		if err == nil {
			return
		}
		if attempt == 10 || !strings.Contains(s.out.String(), "in use") {
			s.t.Fatalf("dnsmasq did not restart: %v\n%s", err, s.out)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitReady waits until dnsmasq answers a query, or exits.
func (s *Server) waitReady(exited <-chan struct{}) error {
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return fmt.Errorf("dnsmasq exited: %v", s.cmd.ProcessState)
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		_, err := s.Resolver().LookupNetIP(ctx, "ip4", "ready-probe."+Domain)
		cancel()
		var de *net.DNSError
		if err == nil || errors.As(err, &de) && de.IsNotFound {
			return nil // an answer, even NXDOMAIN, means it serves
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("no answer from %s within 10s", s.Addr)
}

// Resolver returns Go's resolver asking only this server.
func (s *Server) Resolver() *net.Resolver {
	return &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		if s.opt.Dial != nil {
			return s.opt.Dial(ctx, network, s.Addr.String())
		}
		var d net.Dialer
		return d.DialContext(ctx, network, s.Addr.String())
	}}
}

// Set replaces the hosts file, makes dnsmasq read it (SIGHUP also empties its cache), and
// waits until every name of hosts is answered with exactly its addresses.
func (s *Server) Set(hosts map[string][]string) {
	s.t.Helper()
	s.write(hosts)
	if err := s.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		s.t.Fatalf("SIGHUP dnsmasq: %v", err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for name, want := range hosts {
		for {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			got, _ := s.Resolver().LookupNetIP(ctx, "ip", name)
			cancel()
			if sameAddrs(got, want) {
				break
			}
			if time.Now().After(deadline) {
				s.t.Fatalf("dnsmasq answers %s with %v after SIGHUP, want %v\n%s", name, got, want, s.out)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

func (s *Server) write(hosts map[string][]string) {
	var b strings.Builder
	for name, addrs := range hosts {
		for _, a := range addrs {
			fmt.Fprintf(&b, "%s %s\n", a, name)
		}
	}
	if err := os.WriteFile(s.hosts, []byte(b.String()), 0o644); err != nil {
		s.t.Fatal(err)
	}
}

func sameAddrs(got []netip.Addr, want []string) bool {
	var g, w []string
	for _, a := range got {
		g = append(g, a.Unmap().String())
	}
	for _, a := range want {
		w = append(w, netip.MustParseAddr(a).String())
	}
	slices.Sort(g)
	slices.Sort(w)
	return slices.Equal(g, w)
}

// freeUDPPort returns a loopback UDP port that was free a moment ago.
func freeUDPPort(t testing.TB) int {
	t.Helper()
	// dnsmasq binds TCP as well as UDP: take a port free for both.
	for range 50 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := ln.Addr().(*net.TCPAddr).Port
		c, err := net.ListenPacket("udp", fmt.Sprintf("127.0.0.1:%d", port))
		ln.Close()
		if err == nil {
			c.Close()
			return port
		}
	}
	t.Fatal("no port free for both TCP and UDP on 127.0.0.1")
	return 0
}
