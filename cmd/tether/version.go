package main

import (
	"fmt"
	"runtime"
	"runtime/debug"
)

// version is set at link time with -ldflags "-X main.version=v1.2.3"; otherwise the module
// version or VCS revision recorded by the Go toolchain is used.
var version = ""

func versionString() string {
	v := version
	if bi, ok := debug.ReadBuildInfo(); ok {
		if v == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			v = bi.Main.Version
		}
		if v == "" {
			rev, dirty := "", false
			for _, s := range bi.Settings {
				switch s.Key {
				case "vcs.revision":
					rev = s.Value
				case "vcs.modified":
					dirty = s.Value == "true"
				}
			}
			if len(rev) > 12 {
				rev = rev[:12]
			}
			if rev != "" {
				v = "devel-" + rev
				if dirty {
					v += "-dirty"
				}
			}
		}
	}
	if v == "" {
		v = "devel"
	}
	return fmt.Sprintf("tether %s %s %s/%s", v, runtime.Version(), runtime.GOOS, runtime.GOARCH)
}
