package memory

import "github.com/turbomediator/turbomediator-go/behaviors/locking"

// Close shuts the provider: from then on TryAcquire grants nothing and
// fails with an error matching [locking.ErrClosed] (and
// [locking.ErrUnavailable]), and the callers waiting in a queue give up with
// the same error. Locks already held stay held until released; their
// Release still works. Close is idempotent and starts no goroutine.
// [WithInMemoryDistributedLocking] closes its provider with the mediator.
func (p *Provider) Close() error {
	p.once.Do(p.setupDefault)
	p.closeOnce.Do(func() {
		p.closed.Store(true)
		close(p.done)
	})
	return nil
}

// closedError is what TryAcquire answers once the provider is closed.
func closedError(key string) error {
	return &locking.UnavailableError{Key: key, Err: locking.ErrClosed}
}
