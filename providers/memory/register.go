package memory

import (
	"context"

	"github.com/turbomediator/turbomediator-go/behaviors/locking"
	"github.com/turbomediator/turbomediator-go/mediator"
)

// WithInMemoryDistributedLocking registers a new in-memory [Provider],
// configured by opts, as the mediator's lock provider. Each mediator built
// with it gets its own provider, so two mediators never share locks; to share
// one, or to keep it for [Provider.Len], register it yourself:
//
//	p := memory.New()
//	locking.WithDistributedLockProvider[*memory.Provider](func() *memory.Provider { return p })
//
// The provider is closed with the mediator (see [Provider.Close]).
func WithInMemoryDistributedLocking(opts ...Option) mediator.Option {
	return locking.WithDistributedLockProvider[*Provider](func(lc *mediator.Lifecycle) *Provider {
		p := New(opts...)
		lc.OnClose(func(context.Context) error { return p.Close() })
		return p
	})
}
