package admin

import (
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// processStatus is the process at one instant, for the status page: what an operator checks
// first during an incident (is it the version I think, did it restart, is it near its fd
// limit, is memory growing).
type processStatus struct {
	Version       string    `json:"version"`
	PID           int       `json:"pid"`
	Started       time.Time `json:"started"`
	UptimeSeconds float64   `json:"uptime_seconds"`
	RSSBytes      int64     `json:"rss_bytes"` // resident memory; 0 where /proc is not there
	OpenFDs       int       `json:"open_fds"`  // 0 where /proc is not there
	MaxFDs        uint64    `json:"max_fds"`   // the soft RLIMIT_NOFILE
	Goroutines    int       `json:"goroutines"`
}

// readProcess reads the process's figures now.
func readProcess(version string, started, now time.Time) processStatus {
	p := processStatus{Version: version, PID: os.Getpid(), Started: started,
		UptimeSeconds: now.Sub(started).Seconds(), Goroutines: runtime.NumGoroutine()}
	if b, err := os.ReadFile("/proc/self/statm"); err == nil {
		if f := strings.Fields(string(b)); len(f) > 1 {
			pages, _ := strconv.ParseInt(f[1], 10, 64)
			p.RSSBytes = pages * int64(os.Getpagesize())
		}
	}
	if fds, err := os.ReadDir("/proc/self/fd"); err == nil {
		p.OpenFDs = len(fds) - 1 // without the one reading the directory
	}
	var lim syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim) == nil {
		p.MaxFDs = uint64(lim.Cur)
	}
	return p
}
