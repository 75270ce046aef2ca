package e2e

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"image/color"
	"image/png"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Chromium's window in the tests, and so the size of its screenshots.
const windowWidth, windowHeight = 1000, 800

// startChromium runs headless Chromium with a new profile, no background traffic of its own and
// the DevTools protocol on a free port, and returns a DevTools connection to its page. The test
// certificate is accepted with --ignore-certificate-errors (putting a test CA into an NSS
// database is not worth it here). Chromium is killed when the test ends.
func startChromium(t testing.TB) *devtools {
	t.Helper()
	bin := require(t, chromium)[0]
	profile := t.TempDir()
	proc := startChild(t, "chromium", exec.Command(bin,
		"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--user-data-dir="+profile, "--ignore-certificate-errors",
		"--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0",
		fmt.Sprintf("--window-size=%d,%d", windowWidth, windowHeight),
		"about:blank"))

	// Chromium writes the port it chose into DevToolsActivePort in the profile.
	var port string
	err := proc.waitUntil("its DevTools port", func(string) bool {
		b, err := os.ReadFile(filepath.Join(profile, "DevToolsActivePort"))
		port, _, _ = strings.Cut(string(b), "\n")
		return err == nil && port != ""
	}, 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	addr := "127.0.0.1:" + port

	var pageTarget string
	err = proc.waitUntil("a page target", func(string) bool {
		pageTarget = findPageTarget(addr)
		return pageTarget != ""
	}, 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	d, err := dialDevtools(addr, pageTarget)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.close)
	return d
}

// findPageTarget returns the webSocketDebuggerUrl of the browser's first page target, or "" if
// it has none yet (https://chromedevtools.github.io/devtools-protocol/#endpoints).
func findPageTarget(addr string) string {
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := client.Get("http://" + addr + "/json/list")
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	var targets []struct {
		Type                 string `json:"type"`
		WebSocketDebuggerURL string `json:"webSocketDebuggerUrl"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&targets); err != nil {
		return ""
	}
	for _, target := range targets {
		if target.Type == "page" && target.WebSocketDebuggerURL != "" {
			return target.WebSocketDebuggerURL
		}
	}
	return ""
}

// checkScreenshot takes a screenshot of the page (Page.captureScreenshot, what --screenshot
// does, but after the page has its result) and checks it is a PNG of the window showing the
// page's green PASS line and no red FAIL. It is kept in the test's artifact directory
// (go test -artifacts).
func checkScreenshot(t *testing.T, d *devtools) {
	t.Helper()
	var shot struct {
		Data string `json:"data"`
	}
	if err := d.call("Page.captureScreenshot", map[string]string{"format": "png"}, &shot, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	data, err := base64.StdEncoding.DecodeString(shot.Data)
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	path := filepath.Join(t.ArtifactDir(), "page.png")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("screenshot (%d bytes) is not a PNG: %v", len(data), err)
	}
	b := img.Bounds()
	if b.Dx() != windowWidth || b.Dy() != windowHeight {
		t.Errorf("screenshot is %dx%d, want the %dx%d window", b.Dx(), b.Dy(), windowWidth, windowHeight)
	}
	// page.html colours the status line #070 on PASS and #b00 on FAIL.
	pass, fail := color.RGBA{0, 0x77, 0, 0xff}, color.RGBA{0xbb, 0, 0, 0xff}
	var passPixels, failPixels int
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			switch color.RGBAModel.Convert(img.At(x, y)) {
			case pass:
				passPixels++
			case fail:
				failPixels++
			}
		}
	}
	if passPixels == 0 || failPixels > 0 {
		t.Errorf("screenshot %s shows %d PASS-green and %d FAIL-red pixels; want some green and no red", path, passPixels, failPixels)
	}
	t.Logf("screenshot %s: %d bytes, %dx%d, %d PASS-green pixels", path, len(data), b.Dx(), b.Dy(), passPixels)
}
