package redlock

import (
	"context"
	"errors"
	"fmt"
	"strings"

	goredis "github.com/redis/go-redis/v9"

	"github.com/turbomediator/turbomediator-go/behaviors/locking"
	"github.com/turbomediator/turbomediator-go/mediator"
	"github.com/turbomediator/turbomediator-go/providers/redis/internal/base"
)

// WithRedlockDistributedLocking registers a Redlock provider (see
// [Provider]) with a client of its own per node, closed with the mediator.
// nodes lists independent Redis masters, comma-separated ("host:port" or
// "redis://" URLs), with or without the "redlock://" scheme in front:
// "a:6379,b:6379,c:6379". Options.Nodes, when configure sets it, replaces
// the list. Build pings the nodes (bounded by Options.DialTimeout) and fails
// with an error matching locking.ErrUnavailable unless a majority answers.
//
// redis.WithRedisDistributedLocking with a "redlock://" address, or with
// Options.Nodes, registers the same provider.
func WithRedlockDistributedLocking(nodes string, configure ...func(*Options)) mediator.Option {
	o := Options{Addr: nodes}
	if nodes != "" && !strings.HasPrefix(nodes, Scheme) {
		o.Addr = Scheme + nodes
	}
	for _, f := range configure {
		f(&o)
	}
	return register("redlock.WithRedlockDistributedLocking", o)
}

// WithRedlockDistributedLockingOptions is [WithRedlockDistributedLocking]
// with every setting in opts: the nodes in Options.Nodes, or in Options.Addr
// in the "redlock://host1:port,host2:port,..." form.
func WithRedlockDistributedLockingOptions(opts Options) mediator.Option {
	return register("redlock.WithRedlockDistributedLockingOptions", opts)
}

func register(name string, o Options) mediator.Option {
	nodes, ok, err := base.RedlockNodes(o)
	switch {
	case err != nil:
		return mediator.Failed(name, err)
	case !ok:
		return mediator.Failed(name, fmt.Errorf("%w: no Redlock nodes: set Options.Nodes or a %q address", base.ErrInvalidAddress, Scheme))
	}
	return withRedlock(name, o, nodes)
}

// withRedlock registers a [Provider] with a client of its own per node,
// closed with the mediator. Build pings the nodes and fails with an error
// matching locking.ErrUnavailable unless a majority answers.
func withRedlock(name string, o Options, nodes []string) mediator.Option {
	s, err := settingsOf(&o)
	if err != nil {
		return mediator.Failed(name, err)
	}
	opts := make([]*goredis.Options, len(nodes))
	for i, addr := range nodes {
		uo, err := base.UniversalOptions(addr, o.DB)
		if err != nil {
			return mediator.Failed(name, err)
		}
		if uo.MasterName != "" || len(uo.Addrs) != 1 {
			return mediator.Failed(name, fmt.Errorf("%w %q: a Redlock node is one standalone master", base.ErrInvalidAddress, addr))
		}
		so := uo.Simple()
		so.DialTimeout = min(s.DialTimeout, s.nodeTimeout)
		// Deadlines on the node calls must cut a call to a stuck node short.
		so.ContextTimeoutEnabled = true
		// One retry covers a pooled connection that died with a restarted
		// node; more would only delay counting it as down.
		so.MaxRetries = 1
		so.DialerRetries = 1
		opts[i] = so
	}
	ctor := func(lc *mediator.Lifecycle) (*Provider, error) {
		clients := make([]Client, len(opts))
		closers := make([]*goredis.Client, len(opts))
		eviction := make([]*base.EvictionCheck, len(opts))
		for i, so := range opts {
			// Every new connection checks the node's eviction policy, so
			// a node that comes back evicting is caught too.
			eviction[i] = base.NewEvictionCheck(s.Settings, i)
			so.OnConnect = eviction[i].OnConnect
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
		r, err := newProvider(clients, &o, eviction)
		if err != nil {
			return nil, errors.Join(err, closeAll())
		}
		lc.OnClose(func(context.Context) error {
			return errors.Join(r.Close(), closeAll())
		})
		return r, nil
	}
	return mediator.Options(name,
		locking.WithDistributedLockProvider[*Provider](ctor),
		mediator.Invoke(base.PingProvider),
	)
}

// Clients is what [WithRedlockDistributedLockingFromDI] takes from
// the mediator's container: one client per independent Redis master, in a
// fixed order. Put it there with mediator.Provide.
type Clients []Client

// WithRedlockDistributedLockingFromDI registers a Redlock [Provider] on the
// [Clients] the application put in the mediator's container with
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
	return base.FromContainer("redlock.WithRedlockDistributedLockingFromDI", configure,
		func(o Options) error {
			if _, redlock, _ := base.RedlockNodes(o); redlock {
				return fmt.Errorf(
					"%w: the Redlock nodes come from the container (Clients); Options.Nodes and %q addresses do not apply",
					base.ErrInvalidOptions, Scheme)
			}
			_, err := settingsOf(&o)
			return err
		},
		func(nodes Clients, o *Options) (*Provider, error) { return New(nodes, o) })
}
