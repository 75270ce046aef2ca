//go:build linux

package e2e

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"time"
)

// tcpTimer returns the pending timer of the TCP socket local->remote as /proc/net/tcp shows it
// (proc_net_tcp.txt in the kernel's Documentation/networking): its kind (0 none, 1
// retransmit, 2 keepalive, 3 TIME_WAIT, 4 zero window probe) and when it fires. The socket
// must be IPv4 and in the test's network namespace.
func tcpTimer(local, remote string) (kind int, in time.Duration, err error) {
	b, err := os.ReadFile("/proc/net/tcp")
	if err != nil {
		return 0, 0, err
	}
	l, err := procTCPAddr(local)
	if err != nil {
		return 0, 0, err
	}
	r, err := procTCPAddr(remote)
	if err != nil {
		return 0, 0, err
	}
	for line := range strings.Lines(string(b)) {
		// sl local_address rem_address st tx_queue:rx_queue tr:tm->when ...
		f := strings.Fields(line)
		if len(f) < 6 || f[1] != l || f[2] != r {
			continue
		}
		tr, when, _ := strings.Cut(f[5], ":")
		k, err1 := strconv.ParseInt(tr, 16, 0)
		ticks, err2 := strconv.ParseInt(when, 16, 64)
		if err1 != nil || err2 != nil {
			return 0, 0, fmt.Errorf("/proc/net/tcp: timer field %q", f[5])
		}
		return int(k), time.Duration(ticks) * time.Second / 100, nil // clock_t: USER_HZ is 100
	}
	return 0, 0, fmt.Errorf("no socket %s -> %s in /proc/net/tcp", local, remote)
}

// procTCPAddr spells an IPv4 host:port as /proc/net/tcp does: the address as a native-endian
// 32-bit word, the port big-endian, both in hex.
func procTCPAddr(hostport string) (string, error) {
	ap, err := netip.ParseAddrPort(hostport)
	if err != nil || !ap.Addr().Is4() {
		return "", fmt.Errorf("not an IPv4 address and port: %q", hostport)
	}
	ip := ap.Addr().As4()
	return fmt.Sprintf("%08X:%04X", binary.NativeEndian.Uint32(ip[:]), ap.Port()), nil
}
