package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
)

// nginxModule is where Debian's libnginx-mod-stream installs nginx's stream module.
const nginxModule = "/usr/lib/nginx/modules/ngx_stream_module.so"

// peerPaths are the installed peers; an empty path means missing.
type peerPaths struct {
	Nginx, StreamModule, HAProxy string
}

// findPeers looks for nginx, its stream module and haproxy in PATH and /usr/sbin.
func findPeers() peerPaths {
	var p peerPaths
	p.Nginx = lookPath("nginx")
	if _, err := os.Stat(nginxModule); err == nil {
		p.StreamModule = nginxModule
	}
	p.HAProxy = lookPath("haproxy")
	return p
}

func lookPath(name string) string {
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	p := filepath.Join("/usr/sbin", name)
	if _, err := os.Stat(p); err == nil {
		return p
	}
	return ""
}

// missingPackages returns the Debian packages that would provide what p lacks.
func missingPackages(p peerPaths) []string {
	var pkgs []string
	if p.Nginx == "" {
		pkgs = append(pkgs, "nginx")
	}
	if p.StreamModule == "" {
		pkgs = append(pkgs, "libnginx-mod-stream")
	}
	if p.HAProxy == "" {
		pkgs = append(pkgs, "haproxy")
	}
	return pkgs
}

// ensurePeers installs the missing peers with apt-get (through sudo -n when not root), saying
// what it runs on log, and returns what is installed afterwards.
func ensurePeers(ctx context.Context, install bool, log io.Writer) (peerPaths, []string) {
	p := findPeers()
	pkgs := missingPackages(p)
	if len(pkgs) == 0 {
		return p, nil
	}
	if !install {
		return p, []string{fmt.Sprintf("missing %s; not installed (-install=false)", strings.Join(pkgs, ", "))}
	}
	var prefix []string
	if os.Geteuid() != 0 {
		prefix = []string{"sudo", "-n"}
	}
	apt := func(args ...string) error {
		argv := append(append(prefix[:len(prefix):len(prefix)], "apt-get"), args...)
		fmt.Fprintf(log, "sidebyside: installing peers: DEBIAN_FRONTEND=noninteractive %s\n", strings.Join(argv, " "))
		cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
		cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		cmd.Stdout, cmd.Stderr = log, log
		return cmd.Run()
	}
	installArgs := append([]string{"install", "-y", "-q", "--no-install-recommends"}, pkgs...)
	if err := apt(installArgs...); err != nil {
		// A fresh machine often has no package lists yet.
		if err := apt("update", "-q"); err == nil {
			_ = apt(installArgs...)
		}
	}
	p = findPeers()
	var notes []string
	if left := missingPackages(p); len(left) > 0 {
		notes = append(notes, fmt.Sprintf("could not install %s: their columns are left out", strings.Join(left, ", ")))
	} else {
		notes = append(notes, fmt.Sprintf("installed %s with apt-get for this run", strings.Join(pkgs, ", ")))
	}
	return p, notes
}

// buildTether builds ./cmd/tether of the module in src into dir.
func buildTether(ctx context.Context, src, dir string, log io.Writer) (string, error) {
	bin := filepath.Join(dir, "tether")
	fmt.Fprintf(log, "sidebyside: building tether: (cd %s && go build -o %s ./cmd/tether)\n", src, bin)
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/tether")
	cmd.Dir = src
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = log, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go build ./cmd/tether: %w\n%s", err, stderr.String())
	}
	return bin, nil
}

// sourceOf describes the checkout a binary is built from: the commit and how many files
// differ from it (read-only git commands; "" outside a git checkout).
func sourceOf(dir string) string {
	rev := firstLine("git", "-C", dir, "rev-parse", "--short", "HEAD")
	if rev == "" || strings.Contains(rev, " ") {
		return ""
	}
	out, err := exec.Command("git", "-C", dir, "status", "--porcelain", "--untracked-files=all").Output()
	if err != nil {
		return "commit " + rev
	}
	if n := strings.Count(string(out), "\n"); n > 0 {
		return fmt.Sprintf("commit %s with %d changed or new files (other work in progress)", rev, n)
	}
	return "commit " + rev
}

// moduleDir returns the directory of the Go module the harness is run in.
func moduleDir(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	gomod := strings.TrimSpace(string(out))
	if err != nil || gomod == "" || gomod == os.DevNull {
		return "", fmt.Errorf("find the tether module (run from the checkout): go env GOMOD: %q, %v", gomod, err)
	}
	return filepath.Dir(gomod), nil
}

// firstLine runs argv and returns the first line of its output (stdout and stderr), or "".
func firstLine(argv ...string) string {
	out, _ := exec.Command(argv[0], argv[1:]...).CombinedOutput()
	line, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
	return strings.TrimSpace(line)
}

// grepLine runs argv and returns the first output line containing sub, or "".
func grepLine(sub string, argv ...string) string {
	out, _ := exec.Command(argv[0], argv[1:]...).CombinedOutput()
	for line := range strings.Lines(string(out)) {
		if strings.Contains(line, sub) {
			return strings.TrimSpace(line)
		}
	}
	return ""
}

// raiseNoFile raises the soft RLIMIT_NOFILE to the hard limit (inherited by every child) and
// returns the hard limit.
func raiseNoFile() (int, error) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, fmt.Errorf("getrlimit: %w", err)
	}
	lim.Cur = lim.Max
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, fmt.Errorf("setrlimit: %w", err)
	}
	return int(min(lim.Max, 1<<20)), nil
}
