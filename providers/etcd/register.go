package etcd

import (
	"context"
	"errors"
	"fmt"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/turbomediator/turbomediator-go/behaviors/locking"
	"github.com/turbomediator/turbomediator-go/mediator"
)

// WithEtcdDistributedLocking registers an etcd lock provider on a client of
// its own to endpoints (client URLs, "http://host:2379" or "host:2379"),
// with every other [Options] at its default. The client is closed, and the
// session lease revoked, when the mediator is closed. Build checks that
// etcd answers (bounded by Options.DialTimeout) and fails with an error
// matching locking.ErrUnavailable when it does not.
func WithEtcdDistributedLocking(endpoints ...string) mediator.Option {
	return withOptions("etcd.WithEtcdDistributedLocking", Options{Endpoints: endpoints})
}

// WithEtcdDistributedLockingOptions is [WithEtcdDistributedLocking] with
// every setting, the endpoints included, in opts.
func WithEtcdDistributedLockingOptions(opts Options) mediator.Option {
	return withOptions("etcd.WithEtcdDistributedLockingOptions", opts)
}

func withOptions(name string, o Options) mediator.Option {
	if len(o.Endpoints) == 0 {
		return mediator.Failed(name, fmt.Errorf("%w: no endpoints", ErrInvalidOptions))
	}
	for _, e := range o.Endpoints {
		if e == "" {
			return mediator.Failed(name, fmt.Errorf("%w: empty endpoint in %q", ErrInvalidOptions, o.Endpoints))
		}
	}
	if _, err := o.settings(); err != nil {
		return mediator.Failed(name, err)
	}
	ctor := func(lc *mediator.Lifecycle) (*Provider, error) {
		client, err := clientv3.New(clientv3.Config{
			Endpoints: o.Endpoints,
			// No DialTimeout: the client connects in the background, so an
			// etcd that is down fails the Build-time ping with
			// ErrUnavailable rather than the constructor.
			Logger: zap.NewNop(),
		})
		if err != nil {
			return nil, fmt.Errorf("etcd: client for %q: %w", o.Endpoints, err)
		}
		p, err := New(client, &o)
		if err != nil {
			return nil, errors.Join(err, client.Close())
		}
		lc.OnClose(func(context.Context) error { return errors.Join(p.Close(), client.Close()) })
		return p, nil
	}
	return mediator.Options(name,
		locking.WithDistributedLockProvider[*Provider](ctor),
		mediator.Invoke(pingProvider),
	)
}

// WithEtcdDistributedLockingFromDI registers an etcd lock provider on the
// *clientv3.Client the application put in the mediator's container with
// mediator.Provide. The provider revokes its session lease when the
// mediator is closed but leaves the client open: it is the application's.
// configure may change the [Options]; Endpoints and DialTimeout's effect on
// connecting do not apply. Build checks that etcd answers.
func WithEtcdDistributedLockingFromDI(configure ...func(*Options)) mediator.Option {
	const name = "etcd.WithEtcdDistributedLockingFromDI"
	var o Options
	for _, f := range configure {
		f(&o)
	}
	if _, err := o.settings(); err != nil {
		return mediator.Failed(name, err)
	}
	ctor := func(client *clientv3.Client, lc *mediator.Lifecycle) (*Provider, error) {
		p, err := New(client, &o)
		if err != nil {
			return nil, err
		}
		lc.OnClose(func(context.Context) error { return p.Close() })
		return p, nil
	}
	return mediator.Options(name,
		locking.WithDistributedLockProvider[*Provider](ctor),
		mediator.Invoke(pingProvider),
	)
}

// pingProvider runs at the end of Build: unreachable endpoints or a cluster
// without quorum fail Build within the dial timeout instead of surfacing at
// the first Send.
func pingProvider(lp locking.Provider) error {
	p, ok := lp.(*Provider)
	if !ok {
		return nil // another provider registered too; Build reports that
	}
	return p.Ping(context.Background())
}
