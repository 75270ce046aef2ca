package main

import (
	"math"
	"slices"
	"time"
)

// percentile returns the q-quantile (0 <= q <= 1) of sorted by the nearest-rank method: the
// smallest sample such that at least q of all samples are <= it. It returns 0 for no samples.
func percentile(sorted []time.Duration, q float64) time.Duration {
	n := len(sorted)
	if n == 0 {
		return 0
	}
	rank := int(math.Ceil(q * float64(n)))
	rank = min(max(rank, 1), n)
	return sorted[rank-1]
}

// summary is the median and range of one metric over the runs of one proxy.
type summary struct {
	Median, Min, Max float64
	N                int // runs that produced the metric
}

// summarize returns the median (the mean of the two middle values for an even count), minimum
// and maximum of vs, ignoring NaN (a run that could not produce the metric).
func summarize(vs []float64) summary {
	var ok []float64
	for _, v := range vs {
		if !math.IsNaN(v) {
			ok = append(ok, v)
		}
	}
	if len(ok) == 0 {
		return summary{Median: math.NaN(), Min: math.NaN(), Max: math.NaN()}
	}
	slices.Sort(ok)
	n := len(ok)
	med := ok[n/2]
	if n%2 == 0 {
		med = (ok[n/2-1] + ok[n/2]) / 2
	}
	return summary{Median: med, Min: ok[0], Max: ok[n-1], N: n}
}
