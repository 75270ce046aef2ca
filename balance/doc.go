// Package balance is tether's table of balancing methods: for each `balance` name an
// [upstreams.NAME] table may give, the algorithm that picks a backend and what the method
// supports (a request key, `tether lookup`, `tether diff`, balance_factor), with the nginx or
// HAProxy directive it reproduces.
//
// Package conf validates names and traits against the table and package upstream builds one
// Balancer per generation of its peers from it; nothing else names a concrete algorithm. Adding
// a method is one file here and one row in the table (see methods in balance.go).
//
// Like package hashing, it is pure computation: the caller owns sockets, health and tunnel
// counts and reports them through the State interface.
package balance
