// Package chaos is the fault-injection suite of the lock providers: real
// redis-server nodes (internal/redistest), an in-process toxiproxy between
// the clients and each node, worker processes that run a locked command
// through the mediator, and a [Checker] that records every critical-section
// entry and exit and every fenced write, and fails on any overlap, any token
// that does not grow, any write accepted below a token the store had already
// accepted, and any lost update.
//
// The suite itself is in the package's tests: go test -run Chaos runs a short
// default run; CHAOS_DURATION=2m (make chaos) runs longer.
package chaos
