package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// profileTop is how many functions of each profile the report lists.
const profileTop = 12

// profileResult is one test's CPU profile of tether (-profile).
type profileResult struct {
	Test    string        // test ID
	File    string        // DIR/<test>.pprof; "" when no profile was saved
	Seconds int           // length of the profile
	Window  time.Duration // the measurement window it started with
	Top     string        // `go tool pprof -top` output
	Missing string        // why there is no profile or no top list; "" when there are both
}

// profileClient fetches profiles: no proxy from the environment, no connection kept open in
// tether between runs.
var profileClient = &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}

// profileSeconds is the length of a profile over window: net/http/pprof takes whole seconds,
// so a shorter or fractional window is rounded up.
func profileSeconds(window time.Duration) int {
	return max(1, int(math.Ceil(window.Seconds())))
}

// takeProfile fetches a CPU profile of profileSeconds(window) from tether's admin listener at
// addr and saves it as dir/<test>.pprof. It is called as the window opens and returns when the
// profile has been written (or failed).
func takeProfile(ctx context.Context, addr, dir, test string, window time.Duration) *profileResult {
	r := &profileResult{Test: test, Seconds: profileSeconds(window), Window: window}
	path := filepath.Join(dir, test+".pprof")
	if err := fetchProfile(ctx, addr, r.Seconds, path); err != nil {
		r.Missing = err.Error()
		return r
	}
	r.File = path
	return r
}

// fetchProfile GETs /debug/pprof/profile?seconds=secs from addr and writes the profile to path.
func fetchProfile(ctx context.Context, addr string, secs int, path string) error {
	ctx, cancel := context.WithTimeout(ctx, time.Duration(secs)*time.Second+30*time.Second)
	defer cancel()
	url := fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", addr, secs)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return fmt.Errorf("CPU profile: %w", err)
	}
	resp, err := profileClient.Do(req)
	if err != nil {
		return fmt.Errorf("CPU profile: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("CPU profile: GET %s: %s: %s", url, resp.Status, strings.TrimSpace(string(msg)))
	}
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("CPU profile: read GET %s: %w", url, err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		return fmt.Errorf("CPU profile: %w", err)
	}
	return nil
}

// profileResults returns one entry per selected test tether took part in, in matrix order,
// with the top functions of each saved profile (bin is the profiled tether binary).
func (h *harness) profileResults(selected []*testDef, defs []*proxyDef, bin string) []*profileResult {
	var out []*profileResult
	for _, t := range selected {
		if !slices.ContainsFunc(defs, func(d *proxyDef) bool { return d.Pprof && (!t.TLS || d.TLS) }) {
			continue
		}
		p := h.profiles[t.ID]
		switch {
		case t.Idle:
			p = &profileResult{Test: t.ID, Missing: "a memory test has no load window, and the profiler's memory would add to the RSS it measures"}
		case p == nil:
			p = &profileResult{Test: t.ID, Missing: "no run of tether reached its measurement window"}
		case p.File != "":
			top, err := pprofTop(h.ctx, bin, p.File)
			if err != nil {
				p.Missing = err.Error()
			}
			p.Top = top
		}
		out = append(out, p)
	}
	return out
}

// pprofTop runs `go tool pprof -top -nodecount=12 bin file`: the functions with the most CPU
// samples of their own (flat), with their cumulative share.
func pprofTop(ctx context.Context, bin, file string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute) // the first call may build pprof
	defer cancel()
	args := []string{"tool", "pprof", "-top", fmt.Sprintf("-nodecount=%d", profileTop), bin, file}
	cmd := exec.CommandContext(ctx, "go", args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			err = fmt.Errorf("%w: %s", err, strings.TrimSpace(stderr.String()))
		}
		return "", fmt.Errorf("go %s: %w", strings.Join(args, " "), err)
	}
	return strings.TrimRight(string(out), "\n"), nil
}

// renderProfiles writes the Profiles section: for each test, where its profile is and its
// top functions by flat CPU.
func renderProfiles(b *strings.Builder, ps []*profileResult) {
	fmt.Fprintf(b, "## Profiles\n\n"+
		"CPU profiles of tether (`GET /debug/pprof/profile?seconds=N` on its admin listener, `[admin] pprof = true`), "+
		"each started as the measurement window of tether's first run of the test opened and lasting the window rounded "+
		"up to whole seconds (pprof's unit). Below each: the top %d functions by flat CPU, "+
		"`go tool pprof -top -nodecount=%d TETHER-BINARY FILE`. The profiled runs are in the tables above; "+
		"the profiler's 100 Hz sampling costs them a little CPU.\n\n", profileTop, profileTop)
	for _, p := range ps {
		fmt.Fprintf(b, "### `%s`\n\n", p.Test)
		if p.File != "" {
			fmt.Fprintf(b, "`%s`: %d s from the start of the %v window.\n\n", p.File, p.Seconds, p.Window)
		}
		if p.Missing != "" {
			what := "No profile"
			if p.File != "" {
				what = "No top list"
			}
			fmt.Fprintf(b, "%s: %s\n\n", what, oneLineText(p.Missing))
		}
		if p.Top != "" {
			fmt.Fprintf(b, "```text\n%s\n```\n\n", p.Top)
		}
	}
}

// oneLineText joins lines, for an error inside a markdown paragraph.
func oneLineText(s string) string {
	return strings.Join(strings.Fields(s), " ")
}
