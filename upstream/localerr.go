package upstream

import (
	"errors"
	"syscall"
)

// Refusal reasons of a [LocalError], also the reason labels of tether's refusal metric.
const (
	ReasonNoFD        = "no file descriptor" // EMFILE, ENFILE: tether's or the system's open-file limit
	ReasonNoMemory    = "no socket memory"   // ENOBUFS, ENOMEM: the kernel could not allocate the socket
	ReasonNoLocalPort = "no local port"      // EADDRNOTAVAIL: no ephemeral port left for the address pair
)

// LocalError is Connect's error when a connect failed for want of tether's own resources (file
// descriptors, socket memory, local ports), not because of the backend. The peer is not
// blamed: the failure counts neither towards max_fails nor is the connection moved to another
// peer (which would move the client off its backend for nothing: the next dial would fail the
// same way). See issue 10, item 2.
type LocalError struct {
	Reason string // one of the Reason constants
	Err    error  // the dial error
}

func (e *LocalError) Error() string { return e.Reason + ": " + e.Err.Error() }

func (e *LocalError) Unwrap() error { return e.Err }

// localErrnos are the connect errors that are the proxy's own, with their refusal reasons.
var localErrnos = []struct {
	errno  syscall.Errno
	reason string
}{
	{syscall.EMFILE, ReasonNoFD},
	{syscall.ENFILE, ReasonNoFD},
	{syscall.ENOBUFS, ReasonNoMemory},
	{syscall.ENOMEM, ReasonNoMemory},
	{syscall.EADDRNOTAVAIL, ReasonNoLocalPort},
}

// asLocal returns err as a *LocalError when it is the proxy's own, or nil.
func asLocal(err error) *LocalError {
	for _, l := range localErrnos {
		if errors.Is(err, l.errno) {
			return &LocalError{Reason: l.reason, Err: err}
		}
	}
	return nil
}
