package redis

import (
	"context"
	"errors"
	"fmt"

	goredis "github.com/redis/go-redis/v9"

	"github.com/turbomediator/turbomediator-go/behaviors/locking"
	"github.com/turbomediator/turbomediator-go/mediator"
)

// withRedlock registers a [Redlock] provider with a client of its own per
// node, closed with the mediator. Build pings the nodes and fails with an
// error matching locking.ErrUnavailable unless a majority answers.
func withRedlock(name string, o Options, nodes []string) mediator.Option {
	s, err := o.redlockSettings()
	if err != nil {
		return mediator.Failed(name, err)
	}
	opts := make([]*goredis.Options, len(nodes))
	for i, addr := range nodes {
		uo, err := universalOptions(addr, o.DB)
		if err != nil {
			return mediator.Failed(name, err)
		}
		if uo.MasterName != "" || len(uo.Addrs) != 1 {
			return mediator.Failed(name, fmt.Errorf("%w %q: a Redlock node is one standalone master", errBadAddr, addr))
		}
		so := uo.Simple()
		so.DialTimeout = min(s.dialTimeout, s.nodeTimeout)
		// Deadlines on the node calls must cut a call to a stuck node short.
		so.ContextTimeoutEnabled = true
		// One retry covers a pooled connection that died with a restarted
		// node; more would only delay counting it as down.
		so.MaxRetries = 1
		so.DialerRetries = 1
		opts[i] = so
	}
	ctor := func(lc *mediator.Lifecycle) (*Redlock, error) {
		clients := make([]Client, len(opts))
		closers := make([]*goredis.Client, len(opts))
		for i, so := range opts {
			c := goredis.NewClient(so)
			clients[i], closers[i] = c, c
		}
		closeAll := func() error {
			var errs []error
			for _, c := range closers {
				errs = append(errs, c.Close())
			}
			return errors.Join(errs...)
		}
		r, err := NewRedlock(clients, &o)
		if err != nil {
			return nil, errors.Join(err, closeAll())
		}
		lc.OnClose(func(context.Context) error {
			return errors.Join(r.Close(), closeAll())
		})
		return r, nil
	}
	return mediator.Options(name,
		locking.WithDistributedLockProvider[*Redlock](ctor),
		mediator.Invoke(pingProvider),
	)
}
