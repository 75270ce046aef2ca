// Package e2e holds tether's end-to-end tests with software nobody on the project wrote: a
// Socket.io cluster (npm socket.io with the Redis adapter, a real redis-server) behind tether
// with real socket.io-client clients, and headless Chromium loading a page and opening a
// cross-origin wss:// WebSocket through tether; the admin status page in the same browser;
// tether under faults (backends dying, resetting, refusing, blackholed; slowloris and malformed
// clients; untrusted PROXY headers) and a soak of 9,000 TLS tunnels per process (TETHER_SOAK),
// whose clients and backends run as e2e/wspeer processes; and a fleet of three tether boxes
// behind a Linux ECMP route, each in its own network namespace (TestFleet, as root). tether runs
// as its built binary, the way a user runs it (`tether run -c FILE`).
//
// The package has no non-test code. The tests skip when node, redis-server, chromium or the
// npm packages (`npm ci --prefix e2e/node`) are missing, and fail instead when the environment
// sets TETHER_REQUIRE_PEERS=1, as scripts/test does.
package e2e
