// Package postgres is the PostgreSQL lock provider of the locking behavior:
// its locks exclude every process and machine that uses one database and one
// key prefix, so an application that already has PostgreSQL needs nothing
// else. It is a Go module of its own: importing the mediator, the locking
// behavior or the Redis provider does not bring pgx into an application.
//
// # Registering
//
// [WithPostgresDistributedLocking] takes a DSN and opens its own
// connections; [WithPostgresDistributedLockingOptions] takes every setting in
// [Options]; [WithPostgresDistributedLockingFromDI] takes the *pgxpool.Pool
// the application put in the container, copies its connection settings and
// opens its own connections with them — it neither borrows from nor closes
// the application's pool. [New] and [NewFromPool] build a [Provider] for
// direct use. Build connects, creates the fence sequence if needed, and fails
// with locking.ErrUnavailable when the server does not answer within
// Options.DialTimeout.
//
// # Why advisory locks
//
// A lock is a session-level advisory lock (pg_advisory_lock) held by a
// connection of the provider. A lease table would need a lease length, a
// goroutine renewing it, and polling or LISTEN/NOTIFY to wait, and it would
// let a lock outlive a dead holder until the lease ran out. An advisory lock
// lives exactly as long as the session that holds it: the server lets it go
// the moment the session ends — a killed process, pg_terminate_backend, a
// server restart — and a waiter waits in the server's own lock queue, woken
// by the release itself, without polling. No clock is involved.
//
// # Keys and lock ids
//
// A key maps to the bigint lock id [LockID]: the first 64 bits of
// SHA-256(KeyPrefix + key). Two keys with the same id would share one lock —
// each still excludes its own holders, they only wait for each other — and
// the fencing tokens, drawn from one sequence, still grow per key. The chance
// that any two of n keys in use at the same time collide is about n²/2⁶⁵.
// Advisory locks leave no state behind: nothing remains in the database for
// a key nobody holds or waits for.
//
// # Fencing tokens
//
// The token is drawn from one sequence (Options.Sequence, default
// "turbo_lock_fence") in the statement that takes the lock, after the grant:
// "SELECT CASE WHEN pg_try_advisory_lock($1) THEN nextval(...) END". One
// sequence for all keys is strictly increasing per key too, is a single row
// of state whatever the number of keys, and survives a restart or a crash
// (sequences are WAL-logged and never go back). A guarded write compares it:
// UPDATE accounts SET ..., fence = $token WHERE id = $1 AND fence < $token.
//
// # Waiting
//
// Callers of one provider that want the same key queue in arrival order
// (FIFO within a provider); only the head of the queue talks to the server.
// The head first tries the lock; when it is taken, it waits for it with
// pg_advisory_lock under lock_timeout set to what is left of its timeout
// (the caller's context deadline included), so the server ends the wait.
// The caller's context cancellation (and Close) interrupts the wait with a
// cancel request and closes the session. The server grants a released lock
// to the first session in its queue, so nobody barges in.
//
// # Lost
//
// From 50ms after the grant until the release, one goroutine reads the
// lock's connection (pgconn's WaitForNotification); a lock released sooner
// costs no goroutine. A healthy idle session sends nothing; a terminated
// backend or a shutting-down server sends a FATAL message and closes the
// socket, and a broken connection fails the read: either way the goroutine
// returns at once and the handle's Lost channel closes — the server has
// already let the lock go — and the locking behavior cancels the handler with
// locking.ErrLockLost. A network path that goes silent is seen by TCP
// keepalives, which Options.KeepAlive paces on both sides: the server ends
// such a session (letting the lock go) 3 to 3.5×KeepAlive after the path
// went silent, and the provider closes Lost within about 1.25×KeepAlive —
// first, whatever the phase of the two sides' probes (tested against a real
// silent partition, see docs/providers.md).
//
// # Who holds a lock
//
// [Provider.Inspect] tells who holds a key. The watcher, as it starts,
// writes the holder record into its session's application_name ("tm-lock
// <token> <grant time> <instance> <message type>", 63 bytes at most), where
// any session can read it in pg_stat_activity and which ends with the
// session; the release puts the session's own name back. It costs the grant
// nothing: a lock released within 50ms never writes one, and is told by its
// session's pid alone.
//
// # Cost
//
// Each held lock costs one connection of the provider and (from 50ms after
// the grant) one goroutine;
// each key that the provider's callers wait for costs one more connection
// (the head's). Options.MaxConns (default 32) bounds them; past it,
// TryAcquire waits within its timeout for a connection and then fails with
// locking.ErrUnavailable wrapping [ErrConnectionLimit]. Keep MaxConns, times
// the number of processes, well inside the server's max_connections.
//
// # Errors
//
// Contention (the lock stayed taken, lock_timeout ran out) is a *locking.Error
// (locking.ErrNotAcquired); a server or network failure is a
// *locking.UnavailableError (locking.ErrUnavailable) wrapping the pgx error,
// which keeps the server's SQLSTATE (*pgconn.PgError). The two are never
// confused.
//
// The server must be PostgreSQL 14 or later (the provider's sessions turn
// idle_session_timeout off).
package postgres
