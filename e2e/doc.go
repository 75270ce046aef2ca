// Package e2e holds tether's end-to-end tests with software nobody on the project wrote: a
// Socket.io cluster (npm socket.io with the Redis adapter, a real redis-server) behind tether
// with real socket.io-client clients, and headless Chromium loading a page and opening a
// cross-origin wss:// WebSocket through tether. tether runs as its built binary, the way a user
// runs it (`tether run -c FILE`).
//
// The package has no non-test code. The tests skip when node, redis-server, chromium or the
// npm packages (`npm ci --prefix e2e/node`) are missing, and fail instead when the environment
// sets TETHER_REQUIRE_PEERS=1, as scripts/test does.
package e2e
