package main

import (
	"math"
	"testing"
	"time"
)

func TestPercentile(t *testing.T) {
	hundred := make([]time.Duration, 100)
	for i := range hundred {
		hundred[i] = time.Duration(i + 1)
	}
	for _, tc := range []struct {
		name   string
		sorted []time.Duration
		q      float64
		want   time.Duration
	}{
		{"empty", nil, 0.5, 0},
		{"one sample", []time.Duration{7}, 0.999, 7},
		{"p50 of 1..100", hundred, 0.50, 50},
		{"p99 of 1..100", hundred, 0.99, 99},
		{"p99.9 of 1..100 is the max", hundred, 0.999, 100},
		{"p0 is the min", hundred, 0, 1},
		{"p100 is the max", hundred, 1, 100},
		{"p50 of four rounds up the rank", []time.Duration{1, 2, 3, 4}, 0.5, 2},
		{"p51 of four", []time.Duration{1, 2, 3, 4}, 0.51, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := percentile(tc.sorted, tc.q); got != tc.want {
				t.Errorf("percentile(%v, %v) = %v, want %v", tc.sorted, tc.q, got, tc.want)
			}
		})
	}
}

func TestSummarize(t *testing.T) {
	nan := math.NaN()
	for _, tc := range []struct {
		name string
		in   []float64
		want summary
	}{
		{"odd", []float64{3, 1, 2}, summary{Median: 2, Min: 1, Max: 3, N: 3}},
		{"even averages the middle", []float64{4, 1, 3, 2}, summary{Median: 2.5, Min: 1, Max: 4, N: 4}},
		{"one", []float64{5}, summary{Median: 5, Min: 5, Max: 5, N: 1}},
		{"NaN ignored", []float64{nan, 1, 9, nan, 5}, summary{Median: 5, Min: 1, Max: 9, N: 3}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := summarize(tc.in); got != tc.want {
				t.Errorf("summarize(%v) = %+v, want %+v", tc.in, got, tc.want)
			}
		})
	}
	if s := summarize([]float64{nan}); s.N != 0 || !math.IsNaN(s.Median) {
		t.Errorf("summarize(NaN) = %+v, want N=0 and a NaN median", s)
	}
}
