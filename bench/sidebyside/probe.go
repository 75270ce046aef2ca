package main

import (
	"math"
	"time"
)

// metrics are one run's results by metric name (the m* constants); NaN means "not measurable
// in this run" (e.g. proxy CPU of the direct run).
type metrics map[string]float64

// Metric names.
const (
	mGbps        = "gbps"      // bulk throughput, Gbit/s
	mGbpsPerCore = "gbps/core" // throughput per proxy CPU core
	mCPU         = "cpu"       // proxy CPU, cores (CPU seconds per wall second)
	mClient      = "client"    // load generator CPU, cores
	mBackend     = "backend"   // backend process CPU, cores
	mOther       = "other"     // everything else busy on the machine, cores: noise
	mSoftIRQ     = "softirq"   // interrupt time not charged to any process, cores
	mSteal       = "steal"     // CPU taken by the hypervisor, cores: noise
	mNoisy       = "noisy"     // 1 when the run stayed noisy after its repetitions
	mP50         = "p50"       // round-trip latency percentiles, microseconds
	mP99         = "p99"
	mP999        = "p99.9"
	mRTPS        = "rt/s"        // round trips per second, all connections
	mCPS         = "conn/s"      // connections (or TLS handshakes) per second
	mCPSPerCore  = "conn/s/core" // per proxy CPU core
	mErrors      = "errors"      // failed connections in the window
	mResumed     = "resumed %"   // TLS connections that resumed a session, percent
	// Reconnect storms.
	mStormSecs       = "storm s"       // from the first close until every tunnel is back and has echoed
	mStormP50        = "reconnect p50" // one client's successful reconnect attempt, ms
	mStormP99        = "reconnect p99" // ms
	mOutageP50       = "outage p50"    // from the first close until one client is back, s
	mOutageP99       = "outage p99"
	mCPUPerReconnect = "CPU/reconnect" // proxy CPU over the storm ÷ tunnels, ms
	mRetries         = "retries"       // failed reconnect attempts (each retried)
	mSyscalls        = "syscalls/conn" // proxy system calls per plain connection (strace -c -f)
	mKiB             = "KiB/conn"      // proxy RSS per idle connection
	mKiB16K          = "KiB/conn@16K"
	mFDs             = "fds/conn" // proxy file descriptors per idle connection
	mBaseMiB         = "base MiB" // proxy RSS before the connections were opened
)

// probe reads the CPU counters of the processes taking part in a run.
type probe struct {
	proxy, backend int   // pids; 0 when absent
	spinners       []int // pids of the busy spinners
	// atWindow, when set, is called as the measurement window opens (see open); it must not
	// block. -profile starts tether's CPU profile with it.
	atWindow func()
}

// snapshot is the CPU counters at one instant.
type snapshot struct {
	at                            time.Time
	proxy, backend, spinner, self time.Duration
	proxyOK                       bool
	machine                       machineCPU
}

func (p probe) take() snapshot {
	s := snapshot{at: time.Now(), self: selfCPU()}
	if p.proxy != 0 {
		cpu, err := procCPU(p.proxy)
		s.proxy, s.proxyOK = cpu, err == nil
	}
	if p.backend != 0 {
		s.backend, _ = procCPU(p.backend)
	}
	for _, pid := range p.spinners {
		cpu, _ := procCPU(pid)
		s.spinner += cpu
	}
	s.machine, _ = readMachineCPU()
	return s
}

// open takes the snapshot that opens the measurement window, then calls atWindow.
func (p probe) open() snapshot {
	s := p.take()
	if p.atWindow != nil {
		p.atWindow()
	}
	return s
}

// usage records the CPU used between a and b into m, in cores: mCPU (NaN without a proxy),
// mClient, mBackend, mSoftIRQ (interrupt time, charged to no process: with IRQ time accounting
// that includes the loopback packet processing of the run), mOther (the rest of the machine's
// busy time: processes outside the run, spinner excluded) and mSteal.
func usage(a, b snapshot, m metrics) {
	wall := b.at.Sub(a.at).Seconds()
	cores := func(d time.Duration) float64 { return d.Seconds() / wall }
	m[mCPU] = math.NaN()
	proxy := time.Duration(0)
	if a.proxyOK && b.proxyOK {
		proxy = b.proxy - a.proxy
		m[mCPU] = cores(proxy)
	}
	m[mClient] = cores(b.self - a.self)
	m[mBackend] = cores(b.backend - a.backend)
	known := proxy + (b.self - a.self) + (b.backend - a.backend) + (b.spinner - a.spinner)
	irq := b.machine.SoftIRQ - a.machine.SoftIRQ
	m[mSoftIRQ] = cores(irq)
	m[mOther] = math.Max(0, cores(b.machine.Busy-a.machine.Busy-irq-known))
	m[mSteal] = cores(b.machine.Steal - a.machine.Steal)
}

// perCore returns v per proxy core, NaN when the proxy's CPU is unknown or too small to divide
// by (less than two clock ticks over the window).
func perCore(v float64, m metrics, window time.Duration) float64 {
	cpu := m[mCPU]
	if math.IsNaN(cpu) || cpu*window.Seconds() < 2*clockTick.Seconds() {
		return math.NaN()
	}
	return v / cpu
}
