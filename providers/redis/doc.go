// Package redis is the Redis lock provider of the locking behavior: its locks
// exclude every process and machine that shares one Redis (standalone,
// Sentinel or cluster) and one key prefix. Import it under another name next
// to go-redis:
//
//	import redislocks "github.com/turbomediator/turbomediator-go/providers/redis"
//
// # Registering
//
// [WithRedisDistributedLocking] connects to an address ("host:port", a
// "redis://" URL, comma-separated cluster nodes, or "master:NAME,..." for
// Sentinel) and closes its client when the mediator closes;
// [WithRedisDistributedLockingOptions] takes every setting in [Options];
// [WithRedisDistributedLockingFromDI] uses the [UniversalClient] the
// application put in the container and leaves it open. [New] builds a
// [Provider] on any go-redis client for direct use. Build pings Redis: a wrong
// address fails Build with locking.ErrUnavailable within Options.DialTimeout.
//
// Redlock, each lock taken on a majority of independent masters, is the
// provider of package
// [github.com/turbomediator/turbomediator-go/providers/redis/redlock]. A
// "redlock://a:6379,b:6379,c:6379" address or Options.Nodes given to the
// first two registrations here registers it too; [NewRedlock], [Redlock],
// [RedlockClients] and [WithRedlockDistributedLockingFromDI] are that
// package's names under their former ones.
//
// # Package layout
//
// This package holds the single-node [Provider] (provider.go, handle.go,
// wait.go, batch.go, scripts.go) and the registrations. Package redlock
// holds the Redlock provider. What both use lives in two internal packages:
// providers/redis/internal/base (Options and their checks, connection
// strings, storage key names, the acquire and release scripts, the
// eviction-policy check, background give-backs, registration helpers) and
// providers/redis/internal/wait (the local FIFO queues and the shared
// subscription to release announcements). Package redis imports redlock;
// redlock never imports redis.
//
// # How a lock works
//
// A lock is a lease (Options.TTL, default 30s) on the key
// "<KeyPrefix>{<key>}", whose value is a random owner string. One Lua script
// grants it with SET NX PX and, in the same atomic step, draws the fencing
// token: INCR of the counter "<KeyPrefix>{<key>}:fence", or, when there is
// none, the server's clock in microseconds, which starts a counter that
// expires TTL + Options.FenceRetention later. So no grant can come between
// a grant and its token, no key leaves state behind for good, and tokens
// keep growing while the server's clock does not step back by more than
// TTL + FenceRetention. While the lock is held, a timer
// extends the lease every Options.RefreshInterval (default TTL/3) with an
// owner-checking script; when Redis says the key is someone else's, or cannot
// be reached before the lease runs out, the handle's Lost channel closes and
// the locking behavior cancels the handler with locking.ErrLockLost. Release
// deletes the key only if it is still the handle's and announces the release
// on "<KeyPrefix>{<key>}:released".
//
// # Waiting
//
// Every caller with a timeout joins its provider's queue for the key, in
// arrival order, and only the first of them talks to Redis; the others wait
// in the process. One subscription connection per provider carries the
// release announcements of every key its callers wait for; a release wakes
// the first waiter of the key, and a Release by the same provider hands the
// lock to it in the same script. Jittered
// exponential backoff (a fresh [github.com/bsm/redislock.RetryStrategy] per
// acquisition) is the fallback, never scheduled past the end of the holder's
// lease. (A Redlock waiter subscribes on every node, and any node's
// announcement wakes it.) The wait ends at the timeout or when the context
// ends; a timeout of 0 is one attempt.
//
// # Errors
//
// Contention is a *locking.Error (locking.ErrNotAcquired); a Redis or network
// failure is a *locking.UnavailableError (locking.ErrUnavailable) wrapping its
// cause; the two are never confused. docs/providers.md and docs/fencing.md in
// the repository go further.
package redis
