// Package systemd speaks the two protocols that make tether a native systemd service, without
// a dependency (see sd_notify(3) and sd_listen_fds(3)):
//
//   - notify (notify.go): state changes as datagrams to the unix socket in $NOTIFY_SOCKET
//     ("READY=1", "RELOADING=1", "STOPPING=1", "STATUS=...", "MAINPID=...", "WATCHDOG=1"),
//     sent in order from one goroutine so that a slow or absent receiver never blocks the
//     caller;
//   - socket activation (listen.go): the listening sockets systemd passes as file descriptors
//     3, 4, ... with $LISTEN_PID, $LISTEN_FDS and $LISTEN_FDNAMES, checked (ours, sockets,
//     listening TCP) and returned with the address each is bound to.
//
// Both read their variables once and remove them from the environment, as sd_listen_fds(3)
// does, so a process tether starts (a binary upgrade) does not take them for its own.
package systemd
