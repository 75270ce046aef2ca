package admin

import _ "embed"

// statusPage is the self-contained status page: it fetches /status.json every two seconds and
// renders one table per upstream (backend, address, state, active tunnels, total, ring share).
//
//go:embed status.html
var statusPage []byte
