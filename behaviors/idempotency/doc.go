// Package idempotency is the deduplication behavior of the mediator: a
// request that carries an idempotency key is handled at most once per key,
// and a retry with the same key gets the first answer back instead of
// running the handler again.
//
// It is the .NET original's Deduplication pattern and is distinct from
// locking: the locking behavior keeps two requests from working on the same
// entity at the same time; this behavior keeps one request, sent twice (a
// client retrying after a timeout, a load balancer replaying a request whose
// instance died), from taking effect twice.
//
// # Marking a message
//
// A request opts in by implementing [Keyed]; an empty key turns the
// behavior off for that one request:
//
//	type WithdrawCommand struct {
//		mediator.Command[WithdrawResult]
//		RequestKey string // from the client's Idempotency-Key header
//		AccountID  string
//		Amount     int64
//	}
//
//	func (c WithdrawCommand) IdempotencyKey() string { return c.RequestKey }
//
// # Registering
//
// [WithIdempotency] deduplicates one message type; it needs a [Store] in the
// container: [WithMemoryStore] for one process, or a shared store (the
// redisstore sub-package) with [WithStore] so that a retry landing on
// another instance is recognised too.
//
//	m, err := mediator.New(
//		idempotency.WithMemoryStore(),
//		idempotency.WithIdempotency[WithdrawCommand, WithdrawResult](),
//		locking.WithDistributedLocking[WithdrawCommand, WithdrawResult](),
//		mediator.WithHandler[WithdrawCommand, WithdrawResult](NewWithdrawHandler),
//	)
//
// Register it before the locking behavior of the same type, so that a
// replayed answer does not wait for the lock.
//
// # What Send returns
//
// For a key seen for the first time the handler runs. When it succeeds, its
// response is stored (encoded as JSON, so a response type must round-trip
// through encoding/json) for [Options].TTL, and every later Send with the
// same key and the same request returns it without running the handler
// (see [WithReport] to tell a replay from a first answer). When the handler
// fails, nothing is stored and the key is free again: a failed request is
// one that did not take effect, so it may be retried.
//
// The same key with a different request (another message type, another
// field value) is a [*ConflictError] ([ErrKeyReused]). A duplicate that
// arrives while the first is still being handled is an [*InProgressError]
// ([ErrInProgress]) at once: the two never run side by side, and the caller
// retries later to get the answer. A store that cannot be reached is
// [ErrUnavailable]; the handler does not run then.
//
// Requests are compared by a fingerprint: SHA-256 of the message type's name
// and its JSON encoding (unexported fields do not count), or what the
// message's [Fingerprinter] method returns.
//
// # In flight and crashes
//
// A request in flight holds a claim on its key for [Options].Lease. If the
// process dies while handling it, duplicates are refused with ErrInProgress
// until the lease ends, and then the next one runs the handler. Whether the
// first had taken effect before the crash is the application's to know: a
// handler that must never apply twice records, atomically with its effect,
// that the key was applied (the bank sample does so in its account store).
package idempotency
