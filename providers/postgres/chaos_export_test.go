package postgres

import "github.com/turbomediator/turbomediator-go/behaviors/locking"

// BackendPID returns the process id of the server backend whose session
// holds h's lock (a handle of this provider), for the tests that freeze or
// terminate it.
func BackendPID(h locking.Handle) uint32 { return h.(*handle).conn.PgConn().PID() }
