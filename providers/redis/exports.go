package redis

import (
	"github.com/turbomediator/turbomediator-go/providers/redis/internal/base"
)

// Options configure the Redis provider. The zero value (and a nil *Options)
// means every default. The Redlock provider (package
// [github.com/turbomediator/turbomediator-go/providers/redis/redlock]) takes
// the same type. Its fields, documented where the type is declared (the
// package's internal/base, which both providers share) and in
// docs/providers.md:
//
//   - Addr, DB: where Redis is, for the registrations that create a client
//     ("host:port", "redis://" URL, cluster list, "master:NAME,..." for
//     Sentinel, "redlock://a,b,c" for Redlock).
//   - KeyPrefix ([DefaultKeyPrefix]), TTL ([DefaultTTL]), RefreshInterval
//     (TTL/3), FenceRetention ([DefaultFenceRetention]): the storage names,
//     the lease, how often it is extended, how long a fencing counter
//     outlives its last grant.
//   - DialTimeout ([DefaultDialTimeout]), ReleaseTimeout
//     ([DefaultReleaseTimeout]): bounds of connecting, of the Build ping and
//     a single try, and of a Release.
//   - MinRetryBackoff, MaxRetryBackoff, RetryStrategy: the fallback retries
//     of a waiter.
//   - Nodes, NodeTimeout: Redlock's independent masters and the bound of one
//     node's answer.
//   - AllowKeyEviction: accept a server whose maxmemory-policy may evict
//     lock keys ([ErrEvictionPolicy] otherwise).
//   - Logger: the provider's warnings (default slog.Default()).
type Options = base.Options

// Client is the part of a go-redis client the provider uses: running its
// Lua scripts, subscribing to release announcements and PING. Every go-redis
// client has it.
type Client = base.Client

// Default values of [Options]; a zero field takes its default.
const (
	// DefaultKeyPrefix is put before every storage key and channel name.
	DefaultKeyPrefix = base.DefaultKeyPrefix
	// DefaultTTL is the lease of a lock.
	DefaultTTL = base.DefaultTTL
	// DefaultDialTimeout bounds connecting and the Build-time ping.
	DefaultDialTimeout = base.DefaultDialTimeout
	// DefaultReleaseTimeout bounds a Release.
	DefaultReleaseTimeout = base.DefaultReleaseTimeout
	// DefaultMinRetryBackoff is the shortest fallback retry of a waiter.
	DefaultMinRetryBackoff = base.DefaultMinRetryBackoff
	// DefaultMaxRetryBackoff is the longest fallback retry of a waiter.
	DefaultMaxRetryBackoff = base.DefaultMaxRetryBackoff
	// DefaultFenceRetention is how long a key's fencing counter outlives
	// the lease of its last grant.
	DefaultFenceRetention = base.DefaultFenceRetention
)

// RedlockScheme starts an Options.Addr that lists independent Redlock
// nodes: "redlock://host1:6379,host2:6379,host3:6379".
const RedlockScheme = base.RedlockScheme

// Errors of the provider's Options, connection strings and lifecycle. They
// are the same values in package redlock.
var (
	// ErrInvalidOptions is wrapped by the error of an invalid [Options] (a
	// brace in KeyPrefix, a RefreshInterval not below TTL, ...): New returns
	// it, and the registrations fail Build with it.
	ErrInvalidOptions = base.ErrInvalidOptions
	// ErrInvalidAddress is wrapped by the error of a malformed connection
	// string (Options.Addr): the registrations fail Build with it.
	ErrInvalidAddress = base.ErrInvalidAddress
	// ErrClosed is the cause, wrapped in a *locking.UnavailableError, with
	// which TryAcquire fails on a closed provider, and with which Close
	// ends the waits in progress. It matches locking.ErrClosed.
	ErrClosed = base.ErrClosed
	// ErrEvictionPolicy is wrapped (in an [*EvictionPolicyError]) by the
	// error of a Redis whose maxmemory-policy may evict keys that have a
	// TTL, which every lock key has: Build fails with it, and so does every
	// new connection of a client the provider creates, unless
	// Options.AllowKeyEviction is set.
	ErrEvictionPolicy = base.ErrEvictionPolicy
)

// EvictionPolicyError names the policy of a server that may evict lock keys,
// and says how to fix it. It matches errors.Is(err, ErrEvictionPolicy).
type EvictionPolicyError = base.EvictionPolicyError
