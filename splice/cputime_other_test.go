//go:build !unix

package splice

import "time"

// cpuTime is not measured here; benchmarks then omit cpu-s/GB.
func cpuTime() time.Duration { return 0 }
