package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

// binDir holds the tether binary, built on first use by tetherBinary.
var binDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "tether-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

var (
	buildOnce sync.Once
	buildErr  error
)

// tetherBinary builds cmd/tether once (with -race when the tests run with it, like
// cmd/tether's own tests) and returns its path.
func tetherBinary(t testing.TB) string {
	t.Helper()
	binary := filepath.Join(binDir, "tether")
	buildOnce.Do(func() {
		args := []string{"build", "-o", binary}
		if raceEnabled {
			args = append(args, "-race")
		}
		out, err := exec.Command("go", append(args, "../cmd/tether")...).CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build cmd/tether: %w\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binary
}

// writeFile writes content to name in dir and returns the path.
func writeFile(t testing.TB, dir, name, content string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}
