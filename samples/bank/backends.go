package main

import (
	"errors"
	"strings"

	"github.com/turbomediator/turbomediator-go/mediator"
	locketcd "github.com/turbomediator/turbomediator-go/providers/etcd"
	lockpg "github.com/turbomediator/turbomediator-go/providers/postgres"
)

// The backends beyond memory and Redis: -postgres keeps the accounts (and,
// by default, the locks) in PostgreSQL; -lock-etcd takes the locks on etcd,
// wherever the accounts are.
//
// Which provider takes the account locks, first match wins: -lock-etcd,
// -lock-redis, -postgres, -redis, this process's memory.

// Lock key prefixes, so that the bank's locks are recognisable (and do not
// meet another application's) in a shared database or cluster.
const (
	postgresLockPrefix = "bank:locks:"
	etcdLockPrefix     = "bank/locks/"
)

// ErrBackendFlags is returned for flags that ask for two places at once.
var ErrBackendFlags = errors.New("conflicting backend flags")

// checkBackends refuses flag combinations that name two stores or two lock
// providers.
func (cfg Config) checkBackends() error {
	if cfg.RedisAddr != "" && cfg.PostgresDSN != "" {
		return errors.Join(ErrBackendFlags, errors.New("-redis and -postgres both keep the accounts: choose one"))
	}
	if cfg.LockRedisAddr != "" && cfg.LockEtcd != "" {
		return errors.Join(ErrBackendFlags, errors.New("-lock-redis and -lock-etcd both take the locks: choose one"))
	}
	return nil
}

// newBackendStore opens the PostgreSQL store when -postgres asks for it;
// nil otherwise.
func newBackendStore(cfg Config) (Store, error) {
	if err := cfg.checkBackends(); err != nil {
		return nil, err
	}
	if cfg.PostgresDSN == "" {
		return nil, nil
	}
	return NewPostgresStore(cfg.PostgresDSN)
}

// backendLockProvider is the registration of the etcd or PostgreSQL lock
// provider when the flags put the locks there; ok is false for Redis and
// memory, which lockingOptions handles. Build checks that the backend
// answers, so an instance started with it down fails at once.
func backendLockProvider(cfg Config) (opt mediator.Option, ok bool) {
	switch {
	case cfg.LockEtcd != "":
		return locketcd.WithEtcdDistributedLockingOptions(locketcd.Options{
			Endpoints: etcdEndpoints(cfg.LockEtcd),
			KeyPrefix: etcdLockPrefix,
			TTL:       cfg.LockTTL, // 0: the provider's default; whole seconds
		}), true
	case cfg.LockRedisAddr == "" && cfg.PostgresDSN != "":
		return lockpg.WithPostgresDistributedLocking(cfg.PostgresDSN, func(o *lockpg.Options) {
			o.KeyPrefix = postgresLockPrefix
		}), true
	}
	return nil, false
}

// etcdEndpoints splits -lock-etcd's comma-separated endpoints.
func etcdEndpoints(s string) []string {
	var out []string
	for _, e := range strings.Split(s, ",") {
		if e = strings.TrimSpace(e); e != "" {
			out = append(out, e)
		}
	}
	return out
}

// describeBackends rewrites Describe's words for the backends of this file.
func (cfg Config) describeBackends(storage, locks string) (string, string) {
	if cfg.PostgresDSN != "" {
		storage = "postgres " + redactDSN(cfg.PostgresDSN)
	}
	switch {
	case cfg.LockEtcd != "":
		locks = "etcd " + cfg.LockEtcd
	case cfg.LockRedisAddr == "" && cfg.PostgresDSN != "":
		locks = "postgres " + redactDSN(cfg.PostgresDSN)
	}
	return storage, locks
}

// redactDSN hides a password in a postgres:// URL, for the start-up line.
func redactDSN(dsn string) string {
	scheme, rest, ok := strings.Cut(dsn, "://")
	if !ok {
		return "(keyword DSN)"
	}
	userinfo, host, ok := strings.Cut(rest, "@")
	if !ok {
		return dsn
	}
	if user, _, hasPass := strings.Cut(userinfo, ":"); hasPass {
		return scheme + "://" + user + ":xxxxx@" + host
	}
	return dsn
}
