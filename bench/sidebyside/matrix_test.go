package main

import (
	"slices"
	"strings"
	"testing"
)

func testIDs(ts []*testDef) []string {
	var ids []string
	for _, t := range ts {
		ids = append(ids, t.ID)
	}
	return ids
}

func TestSelectTests(t *testing.T) {
	for _, tc := range []struct {
		only    string
		want    []string
		wantErr string
	}{
		{"", testIDs(tests), ""},
		{"bulk", []string{"bulk-up", "bulk-down"}, ""},
		{"tls", []string{"tls-bulk-up", "tls-bulk-down", "tls-handshake", "tls-handshake-p256", "tls-handshake-rsa", "tls-handshake-resumed", "tls-syscalls", "tls-idle", "tls-idle-p256"}, ""},
		{"tls-handshake-rsa", []string{"tls-handshake-rsa"}, ""},
		{"pingpong-64", []string{"pingpong-64-c1", "pingpong-64-c32"}, ""},
		// Matrix order, whatever the order asked; duplicates once.
		{"idle, connrate,bulk-up,bulk-up", []string{"bulk-up", "connrate", "idle"}, ""},
		{"ping", nil, `-only "ping": no such test`},
		{"bulk-u", nil, "no such test"},
	} {
		got, err := selectTests(tests, tc.only)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("selectTests(%q) error = %v, want %q", tc.only, err, tc.wantErr)
			}
			continue
		}
		if err != nil || !slices.Equal(testIDs(got), tc.want) {
			t.Errorf("selectTests(%q) = %v, %v; want %v", tc.only, testIDs(got), err, tc.want)
		}
	}
}

func TestSelectProxies(t *testing.T) {
	names := func(ds []*proxyDef) []string {
		var n []string
		for _, d := range ds {
			n = append(n, d.Name)
		}
		return n
	}
	got, err := selectProxies(proxyDefs, "haproxy-splice, tether")
	if want := []string{nameTether, nameHAProxyOn}; err != nil || !slices.Equal(names(got), want) {
		t.Errorf("selectProxies = %v, %v; want %v", names(got), err, want)
	}
	if got, err := selectProxies(proxyDefs, ""); err != nil || len(got) != len(proxyDefs) {
		t.Errorf("selectProxies(\"\") = %v, %v; want all", names(got), err)
	}
	if _, err := selectProxies(proxyDefs, "envoy"); err == nil {
		t.Error("selectProxies(envoy): no error")
	}
}

// TestParticipants: direct runs everywhere but in the idle tests; TLS tests only take the
// proxies that serve TLS (the HAProxy splice variants cannot splice TLS).
func TestParticipants(t *testing.T) {
	byID := make(map[string]*testDef)
	for _, tc := range tests {
		byID[tc.ID] = tc
	}
	all := []string{nameTether, nameNginx, nameHAProxy, nameHAProxyAuto, nameHAProxyOn}
	for id, want := range map[string][]string{
		"bulk-up":       append([]string{nameDirect}, all...),
		"tls-handshake": {nameDirect, nameTether, nameNginx, nameHAProxy},
		"idle":          all,
		"tls-idle":      {nameTether, nameNginx, nameHAProxy},
	} {
		if got := participants(byID[id], proxyDefs); !slices.Equal(got, want) {
			t.Errorf("participants(%s) = %v, want %v", id, got, want)
		}
	}
}

// TestMatrixComplete: every test the issue asks for is in the matrix, every test has a run
// function, columns and a ratio metric among what it measures.
func TestMatrixComplete(t *testing.T) {
	seen := make(map[string]bool)
	for _, tc := range tests {
		if seen[tc.ID] {
			t.Errorf("duplicate test %s", tc.ID)
		}
		seen[tc.ID] = true
		if tc.run == nil || len(tc.Cols) == 0 || tc.Title == "" || tc.What == "" {
			t.Errorf("test %s is incomplete", tc.ID)
		}
		if !slices.ContainsFunc(tc.Cols, func(c column) bool { return c.Key == tc.Ratio }) {
			t.Errorf("test %s compares %s, which is not one of its columns", tc.ID, tc.Ratio)
		}
	}
	for _, g := range goals {
		if _, _, ok := g.ratio(map[string]*outcome{}); ok {
			t.Errorf("goal %q computed a ratio without any measurement", g.Name)
		}
	}
}

func TestSpinCPUs(t *testing.T) {
	for _, tc := range []struct {
		mode string
		ncpu int
		want []int
	}{
		{"last", 2, []int{1}},
		{"last", 8, []int{7}},
		{"all", 2, []int{0, 1}},
		{"none", 2, nil},
		{"last", 1, nil}, // a spinner would only compete with the run
		{"all", 1, nil},
	} {
		if got := spinCPUs(tc.mode, tc.ncpu); !slices.Equal(got, tc.want) {
			t.Errorf("spinCPUs(%s, %d) = %v, want %v", tc.mode, tc.ncpu, got, tc.want)
		}
	}
}
