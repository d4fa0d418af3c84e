// Package redlock is the Redlock lock provider of the locking behavior: each
// lock is taken on a majority of independent Redis masters, so it survives
// the loss of a minority of them.
//
//	import "github.com/turbomediator/turbomediator-go/providers/redis/redlock"
//
// # Registering
//
// [WithRedlockDistributedLocking] connects to the nodes it is given
// ("a:6379,b:6379,c:6379", or the same after "redlock://") with a client of
// its own per node, closed when the mediator closes;
// [WithRedlockDistributedLockingOptions] takes every setting in [Options]
// (the nodes in Options.Nodes); [WithRedlockDistributedLockingFromDI] uses
// the [Clients] the application put in the container and leaves them open.
// [New] builds a [Provider] on any go-redis clients for direct use. Build
// pings the nodes and fails unless a majority answers, and fails when a
// node's maxmemory-policy may evict lock keys (see [ErrEvictionPolicy]).
//
// redis.WithRedisDistributedLocking with a "redlock://" address, or with
// Options.Nodes, registers this same provider: the two packages share
// [Options] (one type) and their errors (the same values).
//
// # How a lock works
//
// One attempt asks every node at once to run the single-node acquire script
// (SET NX PX with a fencing counter drawn in the same step) and returns as
// soon as a majority granted, within the validity window (TTL less a clock
// drift allowance); whatever a failed attempt was granted, or may have been,
// is given back at once. The fencing token is the largest counter the
// majority drew, raised on the others. A held lock is extended on every node
// each Options.RefreshInterval; the handle's Lost channel closes when no
// majority can be vouched for. Release deletes the lock everywhere and
// announces it on each node. [Provider] and docs/reliability.md in the
// repository say what this does and does not promise.
//
// # Waiting
//
// A provider's goroutines waiting for a key queue in arrival order, and only
// the first talks to the nodes; a release wakes it, at once for a Release of
// the same provider, and across processes through the announcement on any
// node (one subscription connection per node). Jittered backoff retries
// remain the fallback, never later than the holder's lease end.
//
// # Errors
//
// Contention is a *locking.Error (locking.ErrNotAcquired); fewer than a
// majority of nodes answering is a *locking.UnavailableError
// (locking.ErrUnavailable) wrapping the causes; a closed provider answers
// [ErrClosed].
package redlock
