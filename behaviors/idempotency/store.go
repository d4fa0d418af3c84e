package idempotency

import (
	"context"
	"time"
)

// Store keeps one record per key: a claim while the key's first request is
// in flight, then that request's response. Every method must be atomic with
// respect to the others on the same key, across every process that shares
// the store: that is what keeps two duplicates from both running.
type Store interface {
	// Claim records, unless key already has a record, that a request with
	// this fingerprint is being handled by the owner of token; the claim
	// lasts lease. It returns claimed true when it did, and otherwise the
	// existing record.
	Claim(ctx context.Context, key string, claim Record, lease time.Duration) (existing Record, claimed bool, err error)
	// Complete turns the claim of token into the stored response, kept for
	// ttl. It does nothing when key is no longer claimed by token (the lease
	// ran out and someone else claimed it).
	Complete(ctx context.Context, key, token string, response []byte, ttl time.Duration) error
	// Release deletes the claim of token, so the key is free again. It does
	// nothing when key is not claimed by token.
	Release(ctx context.Context, key, token string) error
}

// Record is what a Store keeps under a key.
type Record struct {
	// Fingerprint identifies the request the key was first used for.
	Fingerprint string
	// Token identifies the claim's owner while the request is in flight.
	Token string
	// Done is set once the response is stored.
	Done bool
	// Response is the encoded response, once Done.
	Response []byte
}
