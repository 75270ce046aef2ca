package e2e

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

// built is one binary goBuild made (or failed to make).
type built struct {
	once sync.Once
	path string
	err  error
}

var (
	builtMu sync.Mutex
	builds  = map[string]*built{}
)

// goBuild builds the main package pkg (relative to e2e/) once, without the race detector, and
// returns the binary's path. Processes that hold thousands of connections use these builds:
// the race detector allows at most 8128 live goroutines, and costs several times the memory.
func goBuild(t testing.TB, name, pkg string) string {
	t.Helper()
	builtMu.Lock()
	b := builds[name]
	if b == nil {
		b = &built{path: filepath.Join(binDir, name)}
		builds[name] = b
	}
	builtMu.Unlock()
	b.once.Do(func() {
		out, err := exec.Command("go", "build", "-o", b.path, pkg).CombinedOutput()
		if err != nil {
			b.err = fmt.Errorf("go build %s: %w\n%s", pkg, err, out)
		}
	})
	if b.err != nil {
		t.Fatal(b.err)
	}
	return b.path
}

// wspeerBinary is the load peer (e2e/wspeer): echo backends and crowds of wss:// clients.
func wspeerBinary(t testing.TB) string { return goBuild(t, "wspeer", "./wspeer") }

// tetherBinaryNoRace is cmd/tether built without the race detector, for the soak.
func tetherBinaryNoRace(t testing.TB) string { return goBuild(t, "tether-norace", "../cmd/tether") }
