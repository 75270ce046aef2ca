package main

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// clockTick is USER_HZ, the unit of the times in /proc/PID/stat and /proc/stat: 100 on every
// Linux architecture Go supports (the kernel fixes it for the user ABI, see proc(5)).
const clockTick = 10 * time.Millisecond

// procCPU returns the user+system CPU time pid consumed so far, all its threads included
// (fields 14 and 15 of /proc/PID/stat, proc(5)).
func procCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, fmt.Errorf("cpu of pid %d: %w", pid, err)
	}
	return parseStatCPU(b)
}

// parseStatCPU extracts utime+stime from the text of /proc/PID/stat. The command name (field
// 2) is in parentheses and may contain spaces and parentheses, so fields are counted from the
// last ')'.
func parseStatCPU(b []byte) (time.Duration, error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("parse /proc/PID/stat: no ')' in %q", b)
	}
	f := strings.Fields(string(b[i+1:]))
	// f[0] is field 3 (state), so utime (field 14) is f[11] and stime (field 15) f[12].
	if len(f) < 13 {
		return 0, fmt.Errorf("parse /proc/PID/stat: %d fields after the name, want >= 13", len(f))
	}
	var ticks [2]int64
	for i, s := range f[11:13] {
		v, err := parseCount(s)
		if err != nil {
			return 0, fmt.Errorf("parse /proc/PID/stat: %w", err)
		}
		ticks[i] = v
	}
	return time.Duration(ticks[0]+ticks[1]) * clockTick, nil
}

// maxCount bounds the counters read from /proc (clock ticks, kB): 5 years of CPU time or 16 TiB,
// low enough that sums of them in time.Duration or bytes cannot overflow.
const maxCount = 1 << 34

// parseCount parses a decimal counter in 0..maxCount.
func parseCount(s string) (int64, error) {
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, err
	}
	if v > maxCount {
		return 0, fmt.Errorf("counter %s out of range", s)
	}
	return int64(v), nil
}

// procRSS returns pid's resident set size in bytes (VmRSS in /proc/PID/status).
func procRSS(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, fmt.Errorf("rss of pid %d: %w", pid, err)
	}
	return parseStatusKB(b, "VmRSS:")
}

// parseStatusKB returns the value of a "Key:   1234 kB" line of /proc/PID/status in bytes.
func parseStatusKB(b []byte, key string) (int64, error) {
	for line := range strings.Lines(string(b)) {
		rest, ok := strings.CutPrefix(line, key)
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) != 2 || f[1] != "kB" {
			return 0, fmt.Errorf("parse %s %q", key, line)
		}
		v, err := parseCount(f[0])
		if err != nil {
			return 0, fmt.Errorf("parse %s: %w", key, err)
		}
		return v << 10, nil
	}
	return 0, fmt.Errorf("no %s line", key)
}

// procFDs returns how many file descriptors pid has open.
func procFDs(pid int) (int, error) {
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return 0, fmt.Errorf("fds of pid %d: %w", pid, err)
	}
	return len(ents), nil
}

// machineCPU is the whole machine's CPU time by kind, from the "cpu" line of /proc/stat.
type machineCPU struct {
	Busy    time.Duration // user, nice, system, irq, softirq
	SoftIRQ time.Duration // irq and softirq: with IRQ time accounting, loopback packet processing lands here and in no process
	Steal   time.Duration // taken by the hypervisor for other guests
	Total   time.Duration // everything, idle and iowait included
}

func readMachineCPU() (machineCPU, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return machineCPU{}, fmt.Errorf("machine cpu: %w", err)
	}
	return parseProcStat(b)
}

// parseProcStat reads the aggregate "cpu" line of /proc/stat: user nice system idle iowait
// irq softirq steal guest guest_nice (guest time is already part of user, proc(5)).
func parseProcStat(b []byte) (machineCPU, error) {
	for line := range strings.Lines(string(b)) {
		f := strings.Fields(line)
		if len(f) < 9 || f[0] != "cpu" {
			continue
		}
		var v [8]int64
		for i := range v {
			n, err := parseCount(f[i+1])
			if err != nil {
				return machineCPU{}, fmt.Errorf("parse /proc/stat: %w", err)
			}
			v[i] = n
		}
		t := func(n int64) time.Duration { return time.Duration(n) * clockTick }
		busy := v[0] + v[1] + v[2] + v[5] + v[6]
		return machineCPU{Busy: t(busy), SoftIRQ: t(v[5] + v[6]), Steal: t(v[7]), Total: t(busy + v[3] + v[4] + v[7])}, nil
	}
	return machineCPU{}, fmt.Errorf("parse /proc/stat: no cpu line")
}

// selfCPU is the harness's own user+system CPU time: the load generator's cost.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
