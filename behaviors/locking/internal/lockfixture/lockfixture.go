// Package lockfixture holds message types for the locking package's tests
// that must live in a package of their own: a type with the same name as one
// of the tests' own, to show that two such types may not share a default
// lock prefix.
package lockfixture

import (
	"github.com/turbomediator/turbomediator-go/behaviors/locking"
	"github.com/turbomediator/turbomediator-go/mediator"
)

// AuditReport has the name of locking_test.AuditReport and, like it,
// the default prefix: its name.
type AuditReport struct {
	mediator.Command[mediator.Unit]
	locking.DistributedLock
}

// NamedReportCommand has a twin of its name in the tests too, but its own
// prefix.
type NamedReportCommand struct {
	mediator.Command[mediator.Unit]
	locking.DistributedLock `lock:"prefix=legacy-report"`
}
