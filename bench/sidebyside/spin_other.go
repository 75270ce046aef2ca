//go:build !linux

package main

import "errors"

// spin needs Linux scheduling policies (SCHED_IDLE) and CPU affinity.
func spin(int) error { return errors.New("the busy spinner needs Linux") }
