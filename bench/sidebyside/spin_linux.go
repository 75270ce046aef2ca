package main

import (
	"fmt"
	"runtime"
	"syscall"

	"golang.org/x/sys/unix"
)

// spin is the busy spinner of the single-connection latency runs (internal-spin CPU): one
// thread pinned to cpu with the SCHED_IDLE policy and nice 19, looping forever. A halted idle
// vCPU of this VM takes ~55 us to wake up; a SCHED_IDLE task keeps the vCPU running without
// taking CPU from any normal task (the scheduler preempts it at once on a wakeup, see
// sched(7)), so the latency numbers measure the proxies and not the hypervisor.
func spin(cpu int) error {
	runtime.LockOSThread() // affinity and policy are per thread
	var set unix.CPUSet
	set.Set(cpu)
	if err := unix.SchedSetaffinity(0, &set); err != nil {
		return fmt.Errorf("pin to cpu %d: %w", cpu, err)
	}
	attr := unix.SchedAttr{Policy: unix.SCHED_IDLE}
	if err := unix.SchedSetAttr(0, &attr, 0); err != nil {
		return fmt.Errorf("SCHED_IDLE: %w", err)
	}
	if err := syscall.Setpriority(syscall.PRIO_PROCESS, 0, 19); err != nil {
		return fmt.Errorf("nice 19: %w", err)
	}
	//lint:ignore SA5002 spinning is the point; the runtime still preempts the loop asynchronously
	for {
	}
}
