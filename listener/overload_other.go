//go:build !linux

package listener

// Off Linux there is no /proc/self/fd to count with: fd_reserve is not enforced, and a full
// table shows as failed accepts (backed off) and failed dials ("no file descriptor").
func (f *fdCounter) open()        { f.dir = -1 }
func (f *fdCounter) close()       {}
func countDir(int, *[]byte) int64 { return -1 }
func openSpare() int              { return -1 }
func resetOne(int) bool           { return false }
