package main

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// A binary upgrade (SIGUSR2) starts the tether binary again, now possibly a new version on the
// same path, with the same arguments and the listening sockets inherited as file descriptors:
//
//	TETHER_LISTEN_FDS = "KEY=FD,KEY=FD,..."  sockets by listener.SocketKey (and adminSocketKey)
//	TETHER_READY_FD   = FD                   a pipe the new process writes "ready\n" to once it serves
//
// The sockets (and the connections queued on them) are shared by both processes until the old
// one closes its copies, so no connection is refused. The old process then drains.
const (
	envListenFDs   = "TETHER_LISTEN_FDS"
	envReadyFD     = "TETHER_READY_FD"
	adminSocketKey = "admin"
	upgradeTimeout = 30 * time.Second
)

// inheritedSockets returns the sockets a previous process handed over, by key.
func inheritedSockets() (map[string]*os.File, error) {
	spec := os.Getenv(envListenFDs)
	os.Unsetenv(envListenFDs)
	if spec == "" {
		return nil, nil
	}
	files := make(map[string]*os.File)
	for _, item := range strings.Split(spec, ",") {
		i := strings.LastIndexByte(item, '=') // keys hold "=" too ("tcp6/[::]:443/v6only=true")
		key, fdText := item[:max(i, 0)], item[i+1:]
		fd, err := strconv.Atoi(fdText)
		if i <= 0 || err != nil || fd < 3 {
			return nil, fmt.Errorf("%s: bad entry %q", envListenFDs, item)
		}
		files[key] = os.NewFile(uintptr(fd), key)
	}
	return files, nil
}

// notifyParent tells the process that started us for a binary upgrade that we serve now.
func notifyParent() error {
	fdText := os.Getenv(envReadyFD)
	os.Unsetenv(envReadyFD)
	if fdText == "" {
		return nil
	}
	fd, err := strconv.Atoi(fdText)
	if err != nil {
		return fmt.Errorf("%s=%q: %w", envReadyFD, fdText, err)
	}
	f := os.NewFile(uintptr(fd), "ready")
	defer f.Close()
	_, err = f.WriteString("ready\n")
	return err
}

// upgrade starts the new process and waits until it serves; on success this process must stop
// accepting and drain. On failure the new process is killed and this one keeps serving.
func (d *daemon) upgrade() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("find own binary: %w", err)
	}
	files, err := d.srv.ListenerFiles()
	if err != nil {
		return err
	}
	if tl, ok := d.adminLn.(interface{ File() (*os.File, error) }); ok {
		f, err := tl.File()
		if err != nil {
			return fmt.Errorf("admin socket: %w", err)
		}
		files[adminSocketKey] = f
	}
	defer func() {
		for _, f := range files {
			f.Close()
		}
	}()
	readyR, readyW, err := os.Pipe()
	if err != nil {
		return err
	}
	defer readyR.Close()

	cmd := exec.Command(exe, os.Args[1:]...)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	var spec []string
	for key, f := range files {
		spec = append(spec, fmt.Sprintf("%s=%d", key, 3+len(cmd.ExtraFiles)))
		cmd.ExtraFiles = append(cmd.ExtraFiles, f)
	}
	cmd.Env = append(childEnv(os.Environ()),
		envListenFDs+"="+strings.Join(spec, ","),
		fmt.Sprintf("%s=%d", envReadyFD, 3+len(cmd.ExtraFiles)))
	cmd.ExtraFiles = append(cmd.ExtraFiles, readyW)
	d.log.Info("binary upgrade: starting the new process", "binary", exe, "sockets", len(files))
	if err := cmd.Start(); err != nil {
		readyW.Close()
		return fmt.Errorf("start %s: %w", exe, err)
	}
	readyW.Close()
	go cmd.Wait() // reap it if it exits while we still run

	ready := make(chan error, 1)
	go func() {
		buf := make([]byte, 16)
		n, err := readyR.Read(buf)
		if err == nil && strings.TrimSpace(string(buf[:n])) != "ready" {
			err = fmt.Errorf("unexpected %q", buf[:n])
		}
		ready <- err
	}()
	select {
	case err := <-ready:
		if err != nil {
			cmd.Process.Kill()
			return fmt.Errorf("new process %d did not get ready: %w", cmd.Process.Pid, err)
		}
	case <-time.After(upgradeTimeout):
		cmd.Process.Kill()
		return fmt.Errorf("new process %d not ready after %v", cmd.Process.Pid, upgradeTimeout)
	}
	d.log.Info("binary upgrade: the new process serves; this one stops accepting and drains", "pid", cmd.Process.Pid)
	d.srv.StopAccepting()
	return nil
}

// childEnv is the environment of the new process: ours without WATCHDOG_PID, which names this
// process; the new one becomes the main process and takes over the systemd watchdog.
func childEnv(env []string) []string {
	out := make([]string, 0, len(env))
	for _, kv := range env {
		if !strings.HasPrefix(kv, "WATCHDOG_PID=") {
			out = append(out, kv)
		}
	}
	return out
}
