// Package locking is the distributed-lock behavior of the mediator: a
// message's handler runs only while the message's lock is held, so two
// instances of an application (or two goroutines of one) never handle the
// same entity at once.
//
// # Marking a message
//
// Embed [DistributedLock] and scope the lock with [KeyProvider] (one key),
// [MultiKeyProvider] (several keys, taken in sorted order) or fields tagged
// lock:"key":
//
//	type WithdrawCommand struct {
//		mediator.Command[WithdrawResult]
//		locking.DistributedLock `lock:"timeout=10s"`
//		AccountID string
//		Amount    int64
//	}
//
//	func (c WithdrawCommand) LockKey() string { return c.AccountID }
//
// The final key is [GlobalKeyPrefix:]Prefix[:key]: "WithdrawCommand:42",
// "myapp:WithdrawCommand:42", or "RunDailyReportCommand" for a message with
// no key (one lock for the whole type).
//
// # Registering
//
// [WithDistributedLocking] locks one message type; [WithGlobalDistributedLocking]
// every type carrying the marker. Either needs a [Provider]: the in-memory one
// (providers/memory), Redis (providers/redis), [WithNoOpLocking] in handler
// tests, or your own through [WithDistributedLockProvider]. Settings come, in
// order of precedence, from the type's own registration, its tag, and
// [WithDefaults]; see [Options]. Tags and settings are read once, at Build;
// a malformed tag fails Build with a [*TagError].
//
// # What Send returns
//
// A lock still taken when the timeout runs out is a [*Error] (errors.Is
// [ErrNotAcquired]), or the zero response and a nil error with throw=false; a
// failing provider is [ErrUnavailable] with its cause; a caller that gives up
// while waiting gets its context's error. The handler never runs without its
// lock. The lock is released when the handler returns, fails or panics, with
// a context the caller's cancellation cannot reach.
//
// # Inside the handler
//
// [FromContext] gives the held [Handle] and its fencing token;
// [AllFromContext] and [HandleFor] the others. When a provider reports a lock
// lost, the handler's context is cancelled with cause [ErrLockLost] and Send
// returns an error wrapping it. A Send nested in a handler, for a key the
// handler already holds from the same provider, does not take it again.
//
// # Watching
//
// [WithLogger] (or a *slog.Logger in the container) receives log records and
// [WithObserver] a [LockEvent] per outcome, with wait and hold times. With
// neither, nothing is measured.
package locking
