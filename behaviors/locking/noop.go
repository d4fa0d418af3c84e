package locking

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/turbomediator/turbomediator-go/mediator"
)

// NoOpProvider grants every lock at once and excludes nobody: for unit tests
// of handlers, where the lock itself is not under test. Each grant gets the
// next fencing token; its handles cannot be lost.
type NoOpProvider struct {
	tokens atomic.Uint64
}

// TryAcquire grants key at once, unless ctx has already ended.
func (p *NoOpProvider) TryAcquire(ctx context.Context, key string, _ time.Duration) (Handle, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return &noOpHandle{key: key, token: p.tokens.Add(1)}, nil
}

type noOpHandle struct {
	key   string
	token uint64
}

func (h *noOpHandle) Key() string                   { return h.key }
func (h *noOpHandle) Token() uint64                 { return h.token }
func (h *noOpHandle) Lost() <-chan struct{}         { return nil }
func (h *noOpHandle) Release(context.Context) error { return nil }

// WithNoOpLocking registers a [NoOpProvider] as the lock provider, so a
// handler test can build a mediator with the locking behavior and no real
// locks.
func WithNoOpLocking() mediator.Option {
	return WithDistributedLockProvider[*NoOpProvider]()
}
