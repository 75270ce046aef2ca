package main

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
)

// machineInfo describes the machine and the software versions for the report.
func machineInfo(p peerPaths, tetherBin, tetherSource string, noFile int) []machineLine {
	var l []machineLine
	add := func(k, v string) {
		if v == "" {
			v = "unknown"
		}
		l = append(l, machineLine{k, v})
	}
	host, _ := os.Hostname()
	add("host", host)
	add("CPUs (nproc)", strconv.Itoa(runtime.NumCPU()))
	add("CPU model", cpuModel())
	add("kernel", readTrim("/proc/sys/kernel/osrelease"))
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		if kb, err := parseStatusKB(b, "MemTotal:"); err == nil {
			add("memory", fmt.Sprintf("%.1f GiB", float64(kb)/(1<<30)))
		}
	}
	add("load average at start", readTrim("/proc/loadavg"))
	add("open files limit", strconv.Itoa(noFile))
	add("Go", firstLine("go", "version"))
	add("tether", firstLine(tetherBin, "version"))
	add("tether source", tetherSource)
	if p.Nginx != "" {
		add("nginx", firstLine(p.Nginx, "-v")+"; "+grepLine("built with", p.Nginx, "-V"))
	}
	if p.HAProxy != "" {
		add("HAProxy", firstLine(p.HAProxy, "-v")+"; "+grepLine("Running on OpenSSL", p.HAProxy, "-vv"))
	}
	return l
}

func readTrim(path string) string {
	b, _ := os.ReadFile(path)
	return strings.TrimSpace(string(b))
}

// cpuModel returns the first "model name" of /proc/cpuinfo.
func cpuModel() string {
	for line := range strings.Lines(readTrim("/proc/cpuinfo")) {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return ""
}
