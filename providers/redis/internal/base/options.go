package base

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/bsm/redislock"
)

// Default values of [Options]; a zero field takes its default.
const (
	// DefaultKeyPrefix is put before every storage key and channel name.
	DefaultKeyPrefix = "turbo:locks:"
	// DefaultTTL is the lease of a lock.
	DefaultTTL = 30 * time.Second
	// DefaultDialTimeout bounds connecting and the Build-time ping.
	DefaultDialTimeout = 5 * time.Second
	// DefaultReleaseTimeout bounds a Release.
	DefaultReleaseTimeout = 5 * time.Second
	// DefaultMinRetryBackoff is the shortest fallback retry of a waiter.
	DefaultMinRetryBackoff = 10 * time.Millisecond
	// DefaultMaxRetryBackoff is the longest fallback retry of a waiter.
	DefaultMaxRetryBackoff = 250 * time.Millisecond
	// DefaultFenceRetention is how long a key's fencing counter outlives
	// the lease of its last grant.
	DefaultFenceRetention = time.Minute
)

// Options configure the Redis provider. The zero value (and a nil *Options)
// means every default.
type Options struct {
	// Addr says where Redis is, for the registrations that create their own
	// client (redis.WithRedisDistributedLocking, redis.WithRedisDistributedLockingOptions):
	// "host:port", a "redis://" or "rediss://" URL, several comma-separated
	// addresses for a cluster, or "master:NAME,host:port,..." for Sentinel.
	// redis.New and redis.WithRedisDistributedLockingFromDI ignore it.
	Addr string
	// DB is the database number of a standalone or Sentinel client the
	// provider creates (a URL's path sets it too). Default 0.
	DB int
	// KeyPrefix is put before every storage key and channel name; providers
	// with the same prefix on the same Redis contend, different prefixes are
	// separate namespaces. It may not contain '{' or '}' (they would break the
	// cluster hash tags). Default "turbo:locks:".
	KeyPrefix string
	// TTL is the lease: a holder that stops extending it (a crashed process)
	// loses the lock this long after its last extension. Default 30s.
	TTL time.Duration
	// RefreshInterval is how often a held lease is extended, counted from
	// the moment the request that granted or last extended it was sent. It
	// must leave the extension a margin of at least TTL/10 before the lease,
	// less the clock drift allowance (1% of TTL + 2ms), runs out: TTL 1s
	// takes at most 888ms. Default TTL/3.
	RefreshInterval time.Duration
	// DialTimeout bounds connecting to Redis, for a client the provider
	// creates, the ping with which Build checks that Redis answers, and a
	// single try (TryAcquire with timeout 0): a Redis that does not answer
	// within it is reported unavailable. Default 5s.
	DialTimeout time.Duration
	// ReleaseTimeout bounds a Release, which runs on a context that the
	// caller's cancellation does not reach. Default 5s.
	ReleaseTimeout time.Duration
	// MinRetryBackoff and MaxRetryBackoff bound the fallback retries of a
	// waiter between wake-ups by a release (they cover a holder that died
	// without releasing, or a missed notification): exponential from min to
	// max, jittered. A retry is never scheduled later than the moment the
	// current lease runs out. Defaults 10ms and 250ms.
	MinRetryBackoff time.Duration
	MaxRetryBackoff time.Duration
	// RetryStrategy, when set, replaces the exponential fallback backoff. It
	// is called once per acquisition that has to wait, so a strategy that
	// counts its retries starts afresh each time. A strategy that returns 0
	// stops the fallback retries: the waiter then only wakes on a release,
	// when the holder's lease runs out, at the timeout or when ctx ends. Its
	// durations are jittered too.
	RetryStrategy func() redislock.RetryStrategy
	// Nodes, when set, are independent Redis masters ("host:port" or
	// "redis://" URLs) on which the registrations take each lock by majority
	// (the Redlock algorithm, see redlock.Provider); Addr is then ignored. An Addr of
	// the form "redlock://host1:port,host2:port,host3:port" does the same.
	// redis.WithRedisDistributedLockingFromDI, which has one client, fails Build
	// when either is set; redis.New and redlock.New ignore both.
	Nodes []string
	// FenceRetention is how long a key's fencing counter is kept after the
	// lease of the grant that made it: the counter expires TTL +
	// FenceRetention after that grant (later grants count it up), so no key
	// leaves state behind for good. A grant that finds no counter draws its
	// token from the server's clock in microseconds and makes a new one, so
	// tokens keep growing after a counter expired as long as the server's
	// clock does not step back by more than TTL + FenceRetention (and, in
	// Redlock mode, the nodes' clocks agree within that much);
	// docs/fencing.md says more. Default 1 minute.
	FenceRetention time.Duration
	// NodeTimeout bounds one node's answer in Redlock mode: a node slower
	// than this counts as down for that call, so a stuck node does not hold
	// up the majority. Default TTL/10, at most 1s.
	NodeTimeout time.Duration
	// AllowKeyEviction accepts a Redis whose maxmemory-policy may evict keys
	// that have a TTL (every policy but noeviction). Under memory pressure
	// such a server may drop a held lock, so that a second holder is granted
	// while the first still runs, or a fencing counter, so that tokens may
	// stop growing. Without it, Build (and every new connection of a client the
	// provider creates) fails with [ErrEvictionPolicy] on such a server; see
	// docs/reliability.md.
	AllowKeyEviction bool
	// Logger receives the provider's warnings, such as a server that refuses
	// CONFIG GET (managed Redis), so that its eviction policy could not be
	// checked. Default slog.Default().
	Logger *slog.Logger
}

// Settings are Options with defaults applied and checked.
type Settings struct {
	KeyPrefix      string
	TTL            time.Duration
	Refresh        time.Duration
	DialTimeout    time.Duration
	ReleaseTimeout time.Duration
	FenceTTL       time.Duration // TTL + FenceRetention
	NewRetry       func() redislock.RetryStrategy
	AllowEviction  bool
	Logger         *slog.Logger
}

// ErrInvalidOptions is wrapped by the error of an invalid [Options] (a brace
// in KeyPrefix, a RefreshInterval not below TTL, ...): New returns it, and
// the registrations fail Build with it.
var ErrInvalidOptions = errors.New("redis: invalid options")

// errBadOptions is the short name the package's own code uses.
var errBadOptions = ErrInvalidOptions

// SettingsOf applies the defaults to o (nil means every default) and checks
// the result; an invalid field is an error wrapping [ErrInvalidOptions].
func SettingsOf(o *Options) (Settings, error) {
	var in Options
	if o != nil {
		in = *o
	}
	s := Settings{
		KeyPrefix:      in.KeyPrefix,
		TTL:            in.TTL,
		Refresh:        in.RefreshInterval,
		DialTimeout:    in.DialTimeout,
		ReleaseTimeout: in.ReleaseTimeout,
		NewRetry:       in.RetryStrategy,
		AllowEviction:  in.AllowKeyEviction,
		Logger:         in.Logger,
	}
	if s.Logger == nil {
		s.Logger = slog.Default()
	}
	if s.KeyPrefix == "" {
		s.KeyPrefix = DefaultKeyPrefix
	}
	if strings.ContainsAny(s.KeyPrefix, "{}") {
		return s, fmt.Errorf("%w: KeyPrefix %q contains '{' or '}'", errBadOptions, s.KeyPrefix)
	}
	if s.TTL == 0 {
		s.TTL = DefaultTTL
	}
	if s.TTL < time.Millisecond {
		return s, fmt.Errorf("%w: TTL %s is below 1ms", errBadOptions, s.TTL)
	}
	if s.Refresh == 0 {
		s.Refresh = s.TTL / 3
	}
	if s.Refresh <= 0 || s.Refresh >= s.TTL {
		return s, fmt.Errorf("%w: RefreshInterval %s must be positive and shorter than TTL %s", errBadOptions, s.Refresh, s.TTL)
	}
	if latest := s.LatestRefresh(); s.Refresh > latest {
		return s, fmt.Errorf("%w: RefreshInterval %s leaves no margin for the extension: with TTL %s it must be at most %s (TTL less TTL/10 for the extension's round trip, less the clock drift allowance %s)",
			errBadOptions, s.Refresh, s.TTL, max(latest, 0), s.DriftMargin())
	}
	if s.DialTimeout == 0 {
		s.DialTimeout = DefaultDialTimeout
	}
	if s.ReleaseTimeout == 0 {
		s.ReleaseTimeout = DefaultReleaseTimeout
	}
	if s.DialTimeout < 0 || s.ReleaseTimeout < 0 {
		return s, fmt.Errorf("%w: negative DialTimeout or ReleaseTimeout", errBadOptions)
	}
	retention := in.FenceRetention
	if retention == 0 {
		retention = DefaultFenceRetention
	}
	if retention < time.Millisecond {
		return s, fmt.Errorf("%w: FenceRetention %s is below 1ms", errBadOptions, retention)
	}
	s.FenceTTL = s.TTL + retention
	if s.NewRetry == nil {
		lo, hi := in.MinRetryBackoff, in.MaxRetryBackoff
		if lo == 0 {
			lo = DefaultMinRetryBackoff
		}
		if hi == 0 {
			hi = DefaultMaxRetryBackoff
		}
		if lo < 0 || hi < lo {
			return s, fmt.Errorf("%w: retry backoff bounds [%s, %s]", errBadOptions, lo, hi)
		}
		s.NewRetry = func() redislock.RetryStrategy { return redislock.ExponentialBackoff(lo, hi) }
	}
	return s, nil
}

// LatestRefresh is the longest RefreshInterval that still leaves an
// extension TTL/10 to reach Redis and answer before the lease, less the
// drift margin, runs out.
func (s Settings) LatestRefresh() time.Duration { return s.TTL - s.TTL/10 - s.DriftMargin() }

// DriftMargin is how much earlier than our reckoning a lease is presumed to
// have ended: 1% of the TTL plus 2ms, for clock drift between us and Redis
// and for timer latency.
func (s Settings) DriftMargin() time.Duration { return s.TTL/100 + 2*time.Millisecond }
