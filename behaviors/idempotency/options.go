package idempotency

import (
	"fmt"
	"time"
)

// Default values of [Options]; a zero field takes its default.
const (
	// DefaultTTL is how long a response is remembered.
	DefaultTTL = 24 * time.Hour
	// DefaultLease is how long a request in flight holds its key.
	DefaultLease = time.Minute
	// MaxKeyLength bounds a key; a longer one is refused with [*KeyError].
	MaxKeyLength = 255
)

// Options configure the behavior of one message type.
type Options struct {
	// TTL is how long a response is remembered after the first request
	// succeeded; a retry after that runs the handler again. Default 24h.
	TTL time.Duration
	// Lease is how long a request in flight holds its key. It must outlast
	// the handler: a duplicate arriving after the lease of a request still
	// running would run too. After a crash, the key is refused (in
	// progress) for this long. Default 1m.
	Lease time.Duration
}

func (o Options) withDefaults() (Options, error) {
	if o.TTL == 0 {
		o.TTL = DefaultTTL
	}
	if o.Lease == 0 {
		o.Lease = DefaultLease
	}
	if o.TTL < 0 || o.Lease < 0 {
		return o, fmt.Errorf("idempotency: negative TTL %s or Lease %s", o.TTL, o.Lease)
	}
	return o, nil
}

// KeyError is a key the behavior refuses: longer than [MaxKeyLength] bytes,
// or with characters outside printable ASCII.
type KeyError struct {
	Key    string
	Reason string
}

// Error says why the key was refused.
func (e *KeyError) Error() string { return "idempotency: invalid key: " + e.Reason }

// CheckKey tells whether key is one the behavior accepts, so that an HTTP
// layer can refuse a bad header before sending anything. The empty key is
// valid (no deduplication).
func CheckKey(key string) error {
	if len(key) > MaxKeyLength {
		return &KeyError{Key: key, Reason: fmt.Sprintf("longer than %d bytes", MaxKeyLength)}
	}
	for i := 0; i < len(key); i++ {
		if c := key[i]; c < 0x21 || c > 0x7e {
			return &KeyError{Key: key, Reason: "only printable ASCII without spaces is allowed"}
		}
	}
	return nil
}
