package locking

// DistributedLock marks a message type whose handler must run while a lock is
// held. Embed it and put the settings in its struct tag:
//
//	type WithdrawCommand struct {
//		mediator.Command[WithdrawResult]
//		locking.DistributedLock `lock:"prefix=payment,timeout=15s,throw=false"`
//		AccountID string
//	}
//
// The words of the tag, all optional, separated by commas:
//   - prefix: the key prefix; default the type's name ("WithdrawCommand");
//   - timeout: how long to wait, a Go duration ("15s", "250ms") or whole
//     seconds ("15"); "0" means one try that fails at once; default 30s;
//   - throw: whether a lock not had in time is an error (default true); with
//     throw=false the handler is skipped and Send returns the zero response
//     and a nil error.
//
// A malformed tag fails Build with a [*TagError] naming the type and the word.
// DistributedLock is zero-size: embedding it costs nothing.
type DistributedLock struct{}

// KeyProvider is implemented by messages that scope their lock to one entity:
// the final key is the prefix, ":" and LockKey(). An empty LockKey means one
// lock for the whole message type.
type KeyProvider interface {
	LockKey() string
}

// MultiKeyProvider is implemented by messages that need several locks at once,
// a transfer between two accounts say. Every key is locked; keys are taken in
// sorted order, duplicates once, and released in reverse order, so two
// messages locking the same keys cannot deadlock. An empty list means one lock
// for the whole message type. MultiKeyProvider wins over [KeyProvider].
type MultiKeyProvider interface {
	LockKeys() []string
}
