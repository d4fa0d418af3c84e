package redis

import (
	"context"
	"errors"
	"fmt"

	goredis "github.com/redis/go-redis/v9"

	"github.com/turbomediator/turbomediator-go/behaviors/locking"
	"github.com/turbomediator/turbomediator-go/mediator"
	"github.com/turbomediator/turbomediator-go/providers/redis/internal/base"
	"github.com/turbomediator/turbomediator-go/providers/redis/redlock"
)

// WithRedisDistributedLocking registers a Redis lock provider that connects
// to addr: "host:port", a "redis://" (or "rediss://") URL, several
// comma-separated addresses for a cluster, or "master:NAME,host:port,..." for
// Sentinel; "redlock://host1:port,host2:port,host3:port" (or Options.Nodes)
// takes each lock on a majority of independent masters, see [Redlock].
// configure may change the other [Options]. The provider's client
// is closed when the mediator is. Build pings Redis (bounded by
// Options.DialTimeout) and fails with an error matching
// locking.ErrUnavailable when it does not answer.
func WithRedisDistributedLocking(addr string, configure ...func(*Options)) mediator.Option {
	o := Options{Addr: addr}
	for _, f := range configure {
		f(&o)
	}
	return withOptions("redis.WithRedisDistributedLocking", o)
}

// WithRedisDistributedLockingOptions is [WithRedisDistributedLocking] with
// every setting, the address included, in opts.
func WithRedisDistributedLockingOptions(opts Options) mediator.Option {
	return withOptions("redis.WithRedisDistributedLockingOptions", opts)
}

func withOptions(name string, o Options) mediator.Option {
	if _, ok, err := base.RedlockNodes(o); ok {
		if err != nil {
			return mediator.Failed(name, err)
		}
		return mediator.Options(name, redlock.WithRedlockDistributedLockingOptions(o))
	}
	if o.Addr == "" {
		return mediator.Failed(name, fmt.Errorf("%w: empty address", base.ErrInvalidAddress))
	}
	uo, err := base.UniversalOptions(o.Addr, o.DB)
	if err != nil {
		return mediator.Failed(name, err)
	}
	s, err := base.SettingsOf(&o)
	if err != nil {
		return mediator.Failed(name, err)
	}
	uo.DialTimeout = s.DialTimeout
	// Deadlines on the lock calls (the end of a lease, a Release's timeout)
	// must cut a call to an unresponsive server short.
	uo.ContextTimeoutEnabled = true
	// One retry covers a pooled connection that died with a restarted server;
	// more would delay the report of an outage.
	uo.MaxRetries = 1
	uo.DialerRetries = 1
	ctor := func(lc *mediator.Lifecycle) (*Provider, error) {
		// Every new connection checks the server's eviction policy, so a
		// server that comes back (or fails over) evicting is caught too.
		eviction := base.NewEvictionCheck(s, -1)
		uo.OnConnect = eviction.OnConnect
		client := goredis.NewUniversalClient(uo)
		p, err := newProvider(client, &o, eviction)
		if err != nil {
			return nil, errors.Join(err, client.Close())
		}
		lc.OnClose(func(context.Context) error {
			return errors.Join(p.Close(), client.Close())
		})
		return p, nil
	}
	return mediator.Options(name,
		locking.WithDistributedLockProvider[*Provider](ctor),
		mediator.Invoke(base.PingProvider),
	)
}

// WithRedisDistributedLockingFromDI registers a Redis lock provider on the
// [UniversalClient] the application put in the mediator's container with
// mediator.Provide. The provider does not close that client. Options.Addr
// and Options.DialTimeout's effect on dialling do not apply (the client has
// its own settings); Build still pings Redis within Options.DialTimeout.
//
// Lease deadlines cut a call short only if the client was built with
// ContextTimeoutEnabled; otherwise its ReadTimeout bounds each call.
//
// One client cannot be a Redlock majority: Options.Nodes, or an Addr in the
// "redlock://" form, fails Build with [ErrInvalidOptions] instead of being
// ignored. For Redlock on the application's clients, provide
// [RedlockClients] and use [WithRedlockDistributedLockingFromDI].
func WithRedisDistributedLockingFromDI(configure ...func(*Options)) mediator.Option {
	return base.FromContainer("redis.WithRedisDistributedLockingFromDI", configure,
		func(o Options) error {
			if _, redlock, _ := base.RedlockNodes(o); redlock {
				return fmt.Errorf(
					"%w: Redlock (Options.Nodes or a %q address) needs a client per node, which one client from the container cannot be; provide RedlockClients and use WithRedlockDistributedLockingFromDI, or WithRedisDistributedLocking with the node addresses",
					base.ErrInvalidOptions, RedlockScheme)
			}
			_, err := base.SettingsOf(&o)
			return err
		},
		func(client UniversalClient, o *Options) (*Provider, error) { return New(client, o) })
}
