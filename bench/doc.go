// Package bench holds tether's cross-package and end-to-end micro-benchmarks, run with
//
//	go test -run '^$' -bench . -benchmem ./bench/
//
// They measure what one connection costs on its way through the public APIs: choosing the
// backend (hashing.Table, as nginx's `hash $remote_addr consistent;` would), reading the
// request head of a real browser (preamble), encoding the PROXY header (upstream), and moving
// bytes through a whole listener.Server tunnel with the splice engine, the buffered copy and
// TLS, with the proxy's CPU per GB. The peers of the tunnel benchmarks run in a child process,
// so the benchmark process's CPU time is the proxy's alone.
//
// Package-local benchmarks stay with their packages (hashing, splice, conf). The side-by-side
// comparison with nginx and HAProxy is the command in bench/sidebyside; see bench/README.md.
// Without -bench, `go test ./bench/...` only runs the quick tests that keep the benchmarks
// honest (the inputs are valid, the hot paths do not allocate, the tunnel peer works).
package bench
