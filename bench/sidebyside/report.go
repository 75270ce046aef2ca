package main

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
)

// outcome is everything measured for one test.
type outcome struct {
	Test  *testDef
	Names []string             // participants, in column order
	Runs  map[string][]metrics // by participant, successful runs in order
	Errs  map[string][]string  // by participant, failed runs
	// Repeated counts runs done again because other processes were busy; MaxOther is that
	// threshold in cores.
	Repeated int
	MaxOther float64
}

func newOutcome(t *testDef, names []string) *outcome {
	return &outcome{Test: t, Names: names, Runs: make(map[string][]metrics), Errs: make(map[string][]string)}
}

// summary returns the median and range of metric key over name's runs.
func (o *outcome) summary(name, key string) summary {
	var vs []float64
	for _, m := range o.Runs[name] {
		if v, ok := m[key]; ok {
			vs = append(vs, v)
		}
	}
	return summarize(vs)
}

// median returns the median of key for name and whether there is one.
func (o *outcome) median(name, key string) (float64, bool) {
	s := o.summary(name, key)
	return s.Median, s.N > 0
}

// fmtNum formats v with prec decimals; NaN is "–".
func fmtNum(v float64, prec int) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return "–"
	}
	return fmt.Sprintf("%.*f", prec, v)
}

// fmtSummary formats "median (min–max)", or only the median for a single run.
func fmtSummary(s summary, prec int) string {
	if s.N == 0 {
		return "–"
	}
	lo, hi := fmtNum(s.Min, prec), fmtNum(s.Max, prec)
	if s.N == 1 || lo == hi {
		return fmtNum(s.Median, prec)
	}
	return fmt.Sprintf("%s (%s–%s)", fmtNum(s.Median, prec), lo, hi)
}

// fmtRatio formats a/b as "1.23×".
func fmtRatio(a, b float64) string {
	r := a / b
	if math.IsNaN(r) || math.IsInf(r, 0) || b == 0 {
		return "–"
	}
	return fmt.Sprintf("%.2f×", r)
}

// renderTable writes o as a markdown section: the description, one row per participant with
// each column's median and range, "added over direct" columns for latency, and one ratio
// column per participant (this row's median of the ratio metric divided by that column's).
func renderTable(b *strings.Builder, o *outcome) {
	t := o.Test
	fmt.Fprintf(b, "### %s (`%s`)\n\n%s\n\n", t.Title, t.ID, t.What)
	better := "higher is better"
	if !t.Higher {
		better = "lower is better"
	}
	head := []string{""}
	for _, c := range t.Cols {
		head = append(head, c.Head)
	}
	_, hasDirect := o.median(nameDirect, mP50)
	latency := t.Added && hasDirect
	if latency {
		head = append(head, "added p50 µs", "added p99 µs")
	}
	var ratioCols []string
	for _, n := range o.Names {
		if _, ok := o.median(n, t.Ratio); ok {
			ratioCols = append(ratioCols, n)
			head = append(head, "÷ "+n)
		}
	}
	fmt.Fprintf(b, "| %s |\n|%s\n", strings.Join(head, " | "), strings.Repeat("---|", len(head)))
	for _, n := range o.Names {
		row := []string{"**" + n + "**"}
		if len(o.Runs[n]) == 0 {
			row = append(row, "failed: "+strings.Join(o.Errs[n], "; "))
			for len(row) < len(head) {
				row = append(row, "")
			}
			fmt.Fprintf(b, "| %s |\n", strings.Join(row, " | "))
			continue
		}
		for _, c := range t.Cols {
			row = append(row, fmtSummary(o.summary(n, c.Key), c.Prec))
		}
		if latency {
			for _, k := range []string{mP50, mP99} {
				v, _ := o.median(n, k)
				d, _ := o.median(nameDirect, k)
				row = append(row, fmtNum(v-d, 0))
			}
		}
		mine, _ := o.median(n, t.Ratio)
		for _, other := range ratioCols {
			theirs, _ := o.median(other, t.Ratio)
			row = append(row, fmtRatio(mine, theirs))
		}
		fmt.Fprintf(b, "| %s |\n", strings.Join(row, " | "))
	}
	if t.Breakdown != "" {
		renderBreakdown(b, o)
	}
	fmt.Fprintf(b, "\nRatios compare the medians of %s (%s): row ÷ column.", t.Ratio, better)
	if n := len(failedRuns(o)); n > 0 {
		fmt.Fprintf(b, " Failed runs: %s.", strings.Join(failedRuns(o), "; "))
	}
	if s := noise(o); s != "" {
		fmt.Fprintf(b, " %s", s)
	}
	b.WriteString("\n\n")
}

// breakdownMin is the smallest median a breakdown lists; the rest are summed as "other".
const breakdownMin = 0.05

// renderBreakdown writes, for each participant, the medians of the metrics starting with
// o.Test.Breakdown, largest first, without the prefix: "**tether**: accept4 1.00, ...".
func renderBreakdown(b *strings.Builder, o *outcome) {
	b.WriteString("\n")
	for _, n := range o.Names {
		keys := make(map[string]bool)
		for _, m := range o.Runs[n] {
			for k := range m {
				if strings.HasPrefix(k, o.Test.Breakdown) {
					keys[k] = true
				}
			}
		}
		if len(keys) == 0 {
			continue
		}
		type item struct {
			name string
			v    float64
		}
		var items []item
		other := 0.0
		for k := range keys {
			v, _ := o.median(n, k)
			if v < breakdownMin {
				other += v
				continue
			}
			items = append(items, item{strings.TrimPrefix(k, o.Test.Breakdown), v})
		}
		slices.SortFunc(items, func(a, b item) int {
			if c := cmp.Compare(b.v, a.v); c != 0 {
				return c
			}
			return strings.Compare(a.name, b.name)
		})
		parts := make([]string, 0, len(items)+1)
		for _, it := range items {
			parts = append(parts, fmt.Sprintf("%s %.2f", it.name, it.v))
		}
		if other > 0 {
			parts = append(parts, fmt.Sprintf("others %.2f", other))
		}
		fmt.Fprintf(b, "- **%s**: %s\n", n, strings.Join(parts, ", "))
	}
}

// failedRuns lists the errors of participants that had at least one successful run too (the
// others show them in their row).
func failedRuns(o *outcome) []string {
	var out []string
	for _, n := range o.Names {
		if len(o.Runs[n]) > 0 {
			for _, e := range o.Errs[n] {
				out = append(out, n+": "+e)
			}
		}
	}
	return out
}

// noise describes the CPU used by everything outside the run during the windows.
func noise(o *outcome) string {
	var other, steal, irq []float64
	noisy := 0
	for _, n := range o.Names {
		for _, m := range o.Runs[n] {
			if m[mNoisy] == 1 {
				noisy++
			}
			if v, ok := m[mOther]; ok {
				other = append(other, v)
			}
			if v, ok := m[mSteal]; ok {
				steal = append(steal, v)
			}
			if v, ok := m[mSoftIRQ]; ok {
				irq = append(irq, v)
			}
		}
	}
	so, ss, si := summarize(other), summarize(steal), summarize(irq)
	if so.N == 0 {
		return ""
	}
	s := fmt.Sprintf("Noise: CPU busy outside client, proxy and backends during the windows median %s cores (max %s); "+
		"interrupt time, charged to no process, median %s cores; steal median %s.",
		fmtNum(so.Median, 2), fmtNum(so.Max, 2), fmtNum(si.Median, 2), fmtNum(ss.Median, 2))
	if o.Repeated > 0 || noisy > 0 {
		s += fmt.Sprintf(" %d run(s) repeated because other processes used more than %.2f cores; %d kept that noise (marked * under Every run).",
			o.Repeated, o.MaxOther, noisy)
	}
	return s
}

// renderRaw writes every run's ratio metric, for checking medians and spotting outliers.
func renderRaw(b *strings.Builder, outs []*outcome) {
	b.WriteString("<details><summary>Every run (ratio metric, run order)</summary>\n\n")
	b.WriteString("| test | participant | runs |\n|---|---|---|\n")
	for _, o := range outs {
		for _, n := range o.Names {
			var vs []string
			for _, m := range o.Runs[n] {
				v := fmtNum(m[o.Test.Ratio], 2)
				if m[mNoisy] == 1 {
					v += "*"
				}
				vs = append(vs, v)
			}
			for range o.Errs[n] {
				vs = append(vs, "error")
			}
			fmt.Fprintf(b, "| %s %s | %s | %s |\n", o.Test.ID, o.Test.Ratio, n, strings.Join(vs, ", "))
		}
	}
	b.WriteString("\n</details>\n\n")
}

// machineLine is one row of the machine table.
type machineLine struct{ Key, Value string }

// report is the whole markdown document.
type report struct {
	Started  time.Time
	Took     time.Duration
	Command  string
	Machine  []machineLine
	Setup    []string // how the participants ran
	Notes    []string // warnings: missing peers, lowered connection counts, ...
	Outcomes []*outcome
	Profiles []*profileResult // -profile only: tether's CPU profile of each test
}

// render returns the markdown report.
func (r *report) render() string {
	var b strings.Builder
	b.WriteString("# tether side-by-side benchmark\n\n")
	fmt.Fprintf(&b, "Run %s, took %s: `%s`\n\n", r.Started.UTC().Format("2006-01-02 15:04 MST"), r.Took.Round(time.Second), r.Command)
	b.WriteString("## Machine\n\n| | |\n|---|---|\n")
	for _, l := range r.Machine {
		fmt.Fprintf(&b, "| %s | %s |\n", l.Key, strings.ReplaceAll(l.Value, "|", "\\|"))
	}
	b.WriteString("\n## Setup\n\n")
	for _, s := range r.Setup {
		fmt.Fprintf(&b, "- %s\n", s)
	}
	if len(r.Notes) > 0 {
		b.WriteString("\n## Notes\n\n")
		for _, s := range r.Notes {
			fmt.Fprintf(&b, "- %s\n", s)
		}
	}
	b.WriteString("\n## Results\n\n")
	for _, o := range r.Outcomes {
		renderTable(&b, o)
	}
	b.WriteString("## Targets\n\n")
	renderTargets(&b, r.Outcomes)
	b.WriteString("\n")
	renderRaw(&b, r.Outcomes)
	if len(r.Profiles) > 0 {
		renderProfiles(&b, r.Profiles)
	}
	return b.String()
}
