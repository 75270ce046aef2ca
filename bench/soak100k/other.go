//go:build !linux

package main

import (
	"fmt"
	"os"
)

// The soak reads /proc and relies on SO_REUSEPORT spreading connections: Linux only.
func main() {
	fmt.Fprintln(os.Stderr, "soak100k: Linux only")
	os.Exit(2)
}
