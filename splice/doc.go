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
// With ModeGoroutines the same tunnel state machine and the same bursts run
// on two goroutines per tunnel instead (goDriver): each pumps its direction
// under the tunnel's mutex, then waits in the Go netpoller, holding nothing,
// for what that direction needs next: its source readable (a one-byte
// recv(MSG_PEEK|MSG_DONTWAIT), parking on EAGAIN) or its destination
// writable. The sockets stay with their conns, so closing them wakes a
// waiting goroutine. An idle tunnel costs two parked goroutines.
//
// # The stream tunnel
//
// Conns neither driver can use (a *tls.Conn not made by TLSServer, other
// net.Conn wrappers, every conn off Linux, where there is no splice(2))
// run as stream tunnels: each direction blocks in Read on a goroutine of its
// own ((*tunnel).copyClientToBackend, (*tunnel).copyBackendToClient),
// holding one pooled buffer for its life: 16 KiB (the TLS maximum plaintext
// record size, RFC 8446 section 5.1) for a *tls.Conn source, BufSize
// otherwise. (io.Copy between two *net.TCPConn would splice, but keeps two
// pipes per tunnel for the tunnel's whole life.)
//
// # Setting connections up on the loop
//
// [Engine.Accept] has the loops accept on a listening socket themselves
// (accept4, several per wake-up, EPOLLEXCLUSIVE among the loops): each
// connection becomes a [Setup] whose handler the loop calls whenever its
// sockets are ready, its one timer fires or its context ends, until the
// handler closes it or turns it into a tunnel on the same loop, with no
// goroutine, netpoller registration or hand-over per connection. The Setup
// reads, peeks and writes the client, connects the backend without blocking
// (a completed connect costs no getsockopt unless epoll reported an error),
// and writes to it. A TLS handshake ([Setup.StartTLS]) runs on a goroutine
// the caller provides, because crypto/tls blocks; the socket stays the
// loop's: the goroutine reads and writes it without blocking and, on EAGAIN,
// waits for the loop to pass the next readiness edge on; the Setup's timer
// and context end the handshake, and the handler goes on (on the loop,
// reading through TLS) once it has ended.
//
// # Ending a tunnel
//
// EOF from a source is propagated to the destination (for a *tls.Conn:
// close_notify, RFC 8446 section 6.1, then a TCP shutdown of the write half;
// when the other direction has ended already, the close that follows sends
// the FIN); the other direction continues, bounded by Options.HalfClose. A
// read or write error in either direction tears the whole tunnel down at
// once. Timeouts and cancellation tear it down too: the event loop and the
// goroutine driver close the sockets (which wakes a waiting goroutine), the
// stream tunnel sets deadlines in the past.
//
// # Polite WebSocket endings
//
// With Options.WebSocket and a CloseGrace, the driven tunnel follows frame
// boundaries both ways (wsframe.Tracker) once the backend's response head
// said 101: every byte read into userspace is fed to the direction's
// tracker, and a splice never goes past the end of the current frame's
// payload, so frame headers always pass through userspace; at a header, a
// bulk stream peeks at the next 14 bytes (recv MSG_PEEK) and splices the
// next frame whole when it is big, and copies otherwise. When Idle or ctx
// ends such a tunnel, each direction forwards to the end of the message in
// flight, reading no further than the current frame, and from then on
// reads its source only to find the peer's close frame; once both
// directions are there, the client gets a close frame 1001 (going away)
// and the backend a masked one, and the tunnel ends when both peers
// answered (bounded by CloseWait), or, when a message does not finish
// within CloseGrace, ends as without WebSocket (Result.Ending says which).
// Framing a receiver would refuse stops the tracking (Result.FramingErr);
// the bytes are forwarded all the same. The stream tunnel does the same
// steps on its legs' goroutines, a read deadline in the past making a
// blocked Read return when the ending needs a leg's turn.
//
// The idle timeout does not reset a timer per read: the tunnel keeps its
// last-progress time, and its one timer (a slot in the loop's heap, or a
// time.Timer), when it fires, re-arms itself at lastProgress+Idle if bytes
// moved meanwhile. (Per-leg read/write deadlines re-armed on expiry would
// work for reads, but a write deadline that expires on a *tls.Conn corrupts
// it for good, so a blocked TLS write could not be resumed after the other
// direction made progress.)
package splice
