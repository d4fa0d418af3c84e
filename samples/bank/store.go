package main

import (
	"context"
	"time"
)

// Store keeps accounts. It deliberately offers no "withdraw" or "increment"
// operation: handlers read an account, change it in Go and write it back,
// which is exactly the read-modify-write that loses money when two requests
// interleave. The distributed lock is what makes that safe, and the fencing
// token on each write is what keeps a holder that lost its lock from
// overwriting a newer holder's work.
type Store interface {
	// Create stores a new account under a new random id and returns it.
	// With a non-nil applied, the account and the record of the request
	// that created it land together or not at all.
	Create(ctx context.Context, owner string, balance int64, applied *Applied) (Account, error)
	// Get returns one account or an error wrapping ErrAccountNotFound.
	Get(ctx context.Context, id string) (Account, error)
	// List returns up to limit accounts whose ids come after the id after
	// ("" for the first), in id order.
	List(ctx context.Context, after string, limit int) ([]Account, error)
	// Save writes the balances of one or more accounts at once: either all
	// land or none does. A write whose Fence is below the largest fence
	// already stored for its account is refused with ErrStaleWrite. With a
	// non-nil applied, the record lands with the writes.
	Save(ctx context.Context, applied *Applied, writes ...Write) error
	// Load reads the accounts ids (in that order; an error wrapping
	// ErrAccountNotFound for a missing one) and, when key is not "", the
	// record of the request with that idempotency key if one was saved
	// within its TTL (nil otherwise), in one round trip: handlers call it
	// under the account locks, where every round trip counts.
	Load(ctx context.Context, key string, ids ...string) ([]Account, *Applied, error)
	// Ping tells whether the store can be reached.
	Ping(ctx context.Context) error
	// Close frees the store's connections.
	Close() error
}

// Write is one account's new balance, guarded by the fencing token of the
// lock its writer holds.
type Write struct {
	AccountID string
	Balance   int64
	// Fence is the token of the account's lock (locking.Handle.Token). Zero
	// means the writer holds no lock (the -no-lock mode): the write is not
	// checked and does not move the stored fence.
	Fence uint64
}

// Applied records, with a request's effect, that the request with this
// idempotency key has taken effect and what it answered. The idempotency
// behavior remembers answers too, but only after the handler returns; this
// record lands atomically with the money, so a retry after a crash in
// between (kill -9 after the write) finds it and does not apply twice.
type Applied struct {
	Key string
	// Request identifies the request (its type and fields), so that a key
	// reused for another request is refused.
	Request string
	// Response is the answer, as JSON.
	Response []byte
	// TTL is how long the record is kept.
	TTL time.Duration
}
