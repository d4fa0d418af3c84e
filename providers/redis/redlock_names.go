package redis

import (
	"github.com/turbomediator/turbomediator-go/mediator"
	"github.com/turbomediator/turbomediator-go/providers/redis/redlock"
)

// The Redlock provider lives in package
// [github.com/turbomediator/turbomediator-go/providers/redis/redlock]. The
// names below keep code written against this package working; new code
// should use that package's names. [WithRedisDistributedLocking] with a
// "redlock://" address or Options.Nodes still registers a Redlock provider.

// Redlock is the Redlock provider, [redlock.Provider].
type Redlock = redlock.Provider

// RedlockClients is what [WithRedlockDistributedLockingFromDI] takes from
// the mediator's container, [redlock.Clients]: the same type, so either name
// provides it.
type RedlockClients = redlock.Clients

// NewRedlock returns a Redlock provider on nodes; see [redlock.New].
func NewRedlock(nodes []Client, opts *Options) (*Redlock, error) {
	return redlock.New(nodes, opts)
}

// WithRedlockDistributedLockingFromDI registers a Redlock provider on the
// [RedlockClients] in the mediator's container; see
// [redlock.WithRedlockDistributedLockingFromDI].
func WithRedlockDistributedLockingFromDI(configure ...func(*Options)) mediator.Option {
	return redlock.WithRedlockDistributedLockingFromDI(configure...)
}
