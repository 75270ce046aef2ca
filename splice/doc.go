// Package splice is tether's copy engine: it forwards an established tunnel
// both ways between the accepted client connection and the dialed backend
// connection, the last stage of the per-connection pipeline.
//
// An [Engine] owns a bounded pool of kernel pipes and pools of copy buffers;
// [Engine.Start] hands it a tunnel and gets the [Result] back through a
// callback once both directions are done (or a timeout, an error or context
// cancellation ends it) and both conns are closed; [Engine.Forward] does the
// same and waits.
//
// # Two ways to run a tunnel
//
// The event loop (ModeEventLoop, the default on Linux) serves tunnels from a
// few goroutines, one per GOMAXPROCS, each waiting on its own epoll set: the
// epoll fd is registered with the Go netpoller, so a loop parks like any
// goroutine and no OS thread blocks in epoll_wait. The loop duplicates each
// socket and closes the original *net.TCPConn (taking the socket out of the
// Go netpoller), registers both sockets edge-triggered, and drives the same
// bursts as below from readiness edges. An idle tunnel costs its two sockets,
// one small struct and a timer-heap slot: no goroutine, no buffer, no pipe.
// A tunnel is pinned to one loop, so its state needs no locks and
// EPOLLONESHOT re-arming is not needed either. Each loop has one scratch
// buffer for every read; bytes a full destination does not take are kept in
// a pooled buffer (or the pipe) only until it drains, and the source is not
// read meanwhile (backpressure). A leg moves at most 512 KiB per turn before
// other tunnels get theirs. Idle and half-close deadlines live in a per-loop
// heap, re-armed lazily from the last progress.
//
// TLS legs run on the loop when the *tls.Conn was made by [TLSServer]: its
// transport reads the loop's non-blocking socket and reports "would block"
// as a timeout, which crypto/tls treats as temporary (a partial record stays
// buffered for the next Read), and writes that the socket does not take are
// kept until it is writable (crypto/tls treats write errors as permanent, so
// a write must never fail for a full socket). Because crypto/tls may hold
// decrypted plaintext or whole records the socket no longer has, a TLS
// source is read until crypto/tls itself hears EAGAIN, not until the socket
// is empty. Other conns (and tunnels started when fds run out for the
// duplicates) run on goroutines.
//
// Small messages take one read(2) into the loop's buffer and one write(2);
// a read that fills the buffer marks a bulk burst, which continues with
// splice(2) through a borrowed pipe until the source would block (a hybrid of
// copy for small messages and splice for bulk). A read shorter than the
// buffer empties the socket, so the loop does not ask again until the next
// edge, saving the EAGAIN read.
//
// The goroutine engine (ModeGoroutines, and every tunnel off Linux) runs
// each direction in a goroutine of its own, as described next.
//
// # Copy paths of the goroutine engine
//
// Each direction ("leg") runs in its own goroutine, named after what it does
// ((*tunnel).copyClientToBackend, (*tunnel).copyBackendToClient), so
// goroutine dumps are readable.
//
// When the source is a plain *net.TCPConn, the leg waits for readability
// without holding any buffer or pipe: a one-byte recv(MSG_PEEK|MSG_DONTWAIT)
// inside a syscall.RawConn Read callback, parking in the netpoller only on
// EAGAIN. Only then does it borrow resources for a burst:
//
//   - on Linux, when the destination is a plain *net.TCPConn too, a pipe from
//     the Engine's bounded pool, moving bytes with splice(2) socket->pipe->socket
//     until the source would block; the empty pipe goes back to the pool. A
//     pipe that may still hold bytes after an error is closed, never reused.
//   - otherwise (destination is a *tls.Conn, splicing disabled, pool
//     exhausted, pipe creation refused), a pooled buffer of
//     EngineConfig.BufSize bytes, read(2) until EAGAIN, written to the
//     destination, then returned to the pool.
//
// An idle plain leg therefore costs a parked goroutine and nothing else.
// (io.Copy between two *net.TCPConn also splices, but keeps two pipes per
// tunnel for the tunnel's whole life.)
//
// A *tls.Conn source (or any other net.Conn) has no usable readiness signal:
// it may already hold decrypted plaintext or partial records. Such a leg
// blocks in Read holding one pooled buffer for its whole life; the buffer is
// 16 KiB (the TLS maximum plaintext record size, RFC 8446 section 5.1) or
// BufSize if smaller. A later readiness-driven engine is expected to replace
// this. On operating systems other than Linux every leg takes this path.
//
// # Ending a tunnel
//
// EOF from a source is propagated with CloseWrite on the destination (for a
// *tls.Conn: close_notify, RFC 8446 section 6.1, and a TCP shutdown of the
// write half); the other direction continues, bounded by Options.HalfClose.
// A read or write error in either direction tears the whole tunnel down at
// once. Timeouts and cancellation tear it down by setting deadlines in the
// past, which unblocks every pending read, write and readiness wait.
//
// The idle timeout does not reset a timer per read: legs store a shared
// atomic last-progress timestamp, and one timer per tunnel, when it fires,
// re-arms itself at lastProgress+Idle if bytes moved meanwhile. (Per-leg
// read/write deadlines re-armed on expiry would work for reads, but a write
// deadline that expires on a *tls.Conn corrupts it for good, so a blocked
// TLS write could not be resumed after the other direction made progress.)
package splice
