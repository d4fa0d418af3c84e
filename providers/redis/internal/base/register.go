package base

import (
	"context"

	"github.com/turbomediator/turbomediator-go/behaviors/locking"
	"github.com/turbomediator/turbomediator-go/mediator"
)

// FromContainer registers the provider newProvider builds on the client
// (or clients) C that the application put in the container, with the
// Options configure makes, which validate checks first (its error fails
// Build). The provider is closed with the mediator; the client is the
// application's.
func FromContainer[C any, P interface {
	locking.Provider
	Close() error
}](name string, configure []func(*Options), validate func(Options) error, newProvider func(C, *Options) (P, error)) mediator.Option {
	var o Options
	for _, f := range configure {
		f(&o)
	}
	if err := validate(o); err != nil {
		return mediator.Failed(name, err)
	}
	ctor := func(client C, lc *mediator.Lifecycle) (P, error) {
		p, err := newProvider(client, &o)
		if err != nil {
			return p, err
		}
		lc.OnClose(func(context.Context) error { return p.Close() })
		return p, nil
	}
	return mediator.Options(name,
		locking.WithDistributedLockProvider[P](ctor),
		mediator.Invoke(PingProvider),
	)
}

// PingProvider runs at the end of Build: a server whose maxmemory-policy
// may evict lock keys, or a wrong address (or, for Redlock, too few
// reachable nodes) fails Build within the dial timeout instead of
// surfacing at the first Send.
func PingProvider(lp locking.Provider) error {
	p, ok := lp.(interface {
		Ping(context.Context) error
		CheckEvictionPolicy(context.Context) error
	})
	if !ok {
		return nil // another provider registered too; Build reports that
	}
	if err := p.CheckEvictionPolicy(context.Background()); err != nil {
		return err
	}
	return p.Ping(context.Background())
}
