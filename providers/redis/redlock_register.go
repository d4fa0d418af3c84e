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
		eviction := make([]*evictionCheck, len(opts))
		for i, so := range opts {
			// Every new connection checks the node's eviction policy, so
			// a node that comes back evicting is caught too.
			eviction[i] = newEvictionCheck(s.settings, i)
			so.OnConnect = eviction[i].onConnect
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
		r, err := newRedlock(clients, &o, eviction)
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

// RedlockClients is what [WithRedlockDistributedLockingFromDI] takes from
// the mediator's container: one client per independent Redis master, in a
// fixed order. Put it there with mediator.Provide.
type RedlockClients []Client

// WithRedlockDistributedLockingFromDI registers a [Redlock] provider on the
// [RedlockClients] the application put in the mediator's container with
// mediator.Provide. The provider does not close those clients; it ends its
// own calls when the mediator closes. Options.Addr, Options.Nodes and
// Options.DB do not apply (the clients have their own settings): setting
// Nodes or a "redlock://" Addr fails Build with [ErrInvalidOptions] rather
// than being ignored. Build pings the nodes within Options.DialTimeout and
// fails with an error matching locking.ErrUnavailable unless a majority
// answers.
//
// Node deadlines cut a call short only on clients built with
// ContextTimeoutEnabled; otherwise each client's ReadTimeout bounds a call,
// and a stuck node holds an acquisition up that long.
func WithRedlockDistributedLockingFromDI(configure ...func(*Options)) mediator.Option {
	return fromContainer("redis.WithRedlockDistributedLockingFromDI", configure,
		func(o Options) error {
			if _, redlock, _ := redlockNodes(o); redlock {
				return fmt.Errorf(
					"%w: the Redlock nodes come from the container (RedlockClients); Options.Nodes and %q addresses do not apply",
					errBadOptions, RedlockScheme)
			}
			_, err := o.redlockSettings()
			return err
		},
		func(nodes RedlockClients, o *Options) (*Redlock, error) { return NewRedlock(nodes, o) })
}
