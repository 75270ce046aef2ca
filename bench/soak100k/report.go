//go:build linux

package main

import (
	"fmt"
	"os"
	"runtime"
	"strings"
	"syscall"
	"time"
)

// writeReport renders the results as markdown: one column per proxy.
func writeReport(o options, rs []result) string {
	var b strings.Builder
	fmt.Fprintf(&b, "## soak100k: %d wss:// tunnels per proxy, held %v, each echoing once per %v\n\n", o.n, o.hold, o.every)
	fmt.Fprintf(&b, "`go run ./bench/soak100k %s` on %s\n\n", strings.Join(os.Args[1:], " "), machine())
	b.WriteString("| |")
	for _, r := range rs {
		fmt.Fprintf(&b, " %s |", r.proxy)
	}
	b.WriteString("\n|---|")
	for range rs {
		b.WriteString("---|")
	}
	b.WriteString("\n")
	rows := []struct {
		name string
		cell func(r result) string
	}{
		{"processes", func(r result) string {
			if r.proxy == "nginx" {
				return fmt.Sprintf("%d workers + master", r.procs)
			}
			return fmt.Sprintf("%d (reuseport)", r.procs)
		}},
		{"tunnels opened / failed", func(r result) string { return fmt.Sprintf("%d / %d", r.opened, r.failed) }},
		{"ramp-up (200 opening at a time)", func(r result) string { return r.ramp.Round(time.Second).String() }},
		{"tunnels held at the end / **lost**", func(r result) string { return fmt.Sprintf("%d / **%d**", r.held, r.lost) }},
		{"echoes verified byte for byte", func(r result) string { return fmt.Sprint(r.echoes) }},
		{"RSS before / holding (peak)", func(r result) string {
			return fmt.Sprintf("%.1f / %.1f MiB", mib(r.before.rss), mib(r.peak.rss))
		}},
		{"**RSS per tunnel**", func(r result) string { return fmt.Sprintf("**%.1f KiB**", r.rssPerTunnel()/1024) }},
		{"fds before / holding", func(r result) string { return fmt.Sprintf("%d / %d", r.before.fds, r.holdStart.fds) }},
		{"**fds per tunnel**", func(r result) string { return fmt.Sprintf("**%.2f**", r.fdsPerTunnel()) }},
		{"**CPU while holding** (one core = 100%)", func(r result) string { return fmt.Sprintf("**%.2f%%**", r.idleCPU()) }},
		{"CPU per 1,000 tunnels", func(r result) string {
			return fmt.Sprintf("%.3f%%", r.idleCPU()/float64(max(r.held, 1))*1000)
		}},
	}
	for _, row := range rows {
		fmt.Fprintf(&b, "| %s |", row.name)
		for _, r := range rs {
			fmt.Fprintf(&b, " %s |", row.cell(r))
		}
		b.WriteString("\n")
	}
	b.WriteString("\nRSS and fds are summed over the proxy's processes (nginx: master and workers) from /proc; " +
		"per tunnel = (peak while holding - before) / tunnels opened. CPU while holding is the proxy's " +
		"user+system time from 10 s (a tenth of a shorter hold) after the ramp until the first client starts its final sweep, " +
		"over that wall time: the tunnels idle except for their echo once per interval.\n")
	return b.String()
}

// rssPerTunnel is the resident memory the tunnels added, per tunnel, in bytes.
func (r result) rssPerTunnel() float64 {
	return float64(r.peak.rss-r.before.rss) / float64(max(r.opened, 1))
}

// fdsPerTunnel is the descriptors the tunnels added, per tunnel.
func (r result) fdsPerTunnel() float64 {
	return float64(r.holdStart.fds-r.before.fds) / float64(max(r.opened, 1))
}

// idleCPU is the CPU used while holding, in percent of one core.
func (r result) idleCPU() float64 {
	wall := r.holdEnd.at.Sub(r.holdStart.at)
	if wall <= 0 {
		return 0
	}
	return 100 * float64(r.holdEnd.cpu-r.holdStart.cpu) / float64(wall)
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }

// machine describes the host: cores, kernel, open-file limit.
func machine() string {
	var u syscall.Utsname
	syscall.Uname(&u)
	var rel []byte
	for _, c := range u.Release {
		if c == 0 {
			break
		}
		rel = append(rel, byte(c))
	}
	var lim syscall.Rlimit
	syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim)
	return fmt.Sprintf("%d cores, Linux %s, open files %d per process", runtime.NumCPU(), rel, lim.Max)
}
