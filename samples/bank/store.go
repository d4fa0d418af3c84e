package main

import "context"

// Store keeps accounts. It deliberately offers no "withdraw" or "increment"
// operation: handlers read an account, change it in Go and write it back,
// which is exactly the read-modify-write that loses money when two requests
// interleave. The distributed lock is what makes that safe, and the fencing
// token on each write is what keeps a holder that lost its lock from
// overwriting a newer holder's work.
type Store interface {
	// Create stores a new account and returns it with its new id.
	Create(ctx context.Context, owner string, balance int64) (Account, error)
	// Get returns one account or an error wrapping ErrAccountNotFound.
	Get(ctx context.Context, id string) (Account, error)
	// List returns every account in id order.
	List(ctx context.Context) ([]Account, error)
	// Save writes the balances of one or more accounts at once: either all
	// land or none does. A write whose Fence is below the largest fence
	// already stored for its account is refused with ErrStaleWrite.
	Save(ctx context.Context, writes ...Write) error
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
