package postgres

import (
	"errors"
	"fmt"
	"regexp"
	"time"

	"github.com/turbomediator/turbomediator-go/behaviors/locking"
)

// Default values of [Options]; a zero field takes its default.
const (
	// DefaultKeyPrefix is mixed into every lock id: providers with the same
	// prefix on one database contend, different prefixes do not.
	DefaultKeyPrefix = "turbo:locks:"
	// DefaultSequence is the sequence the fencing tokens are drawn from.
	DefaultSequence = "turbo_lock_fence"
	// DefaultMaxConns is how many connections of its own the provider may
	// open: one per held lock and one per key its callers wait for.
	DefaultMaxConns = 32
	// DefaultDialTimeout bounds connecting, the Build-time check and a
	// single try (TryAcquire with timeout 0).
	DefaultDialTimeout = 5 * time.Second
	// DefaultReleaseTimeout bounds a Release.
	DefaultReleaseTimeout = 5 * time.Second
	// DefaultKeepAlive paces the TCP keepalives of the provider's sessions.
	DefaultKeepAlive = 10 * time.Second
)

// Options configure the PostgreSQL provider. The zero value (and a nil
// *Options) means every default.
type Options struct {
	// DSN says where PostgreSQL is ("postgres://user@host:5432/db" or
	// "host=... dbname=..."), for the registrations that open their own
	// connections ([WithPostgresDistributedLocking],
	// [WithPostgresDistributedLockingOptions]). The from-DI form and
	// [NewFromPool] take the settings of the application's pool instead.
	DSN string
	// KeyPrefix is mixed into the hash that maps a key to its advisory lock
	// id: providers with the same prefix on one database contend, different
	// prefixes are separate namespaces. Default "turbo:locks:".
	KeyPrefix string
	// Sequence names the sequence (optionally schema-qualified, "app.fence")
	// the fencing tokens are drawn from; the provider creates it if it does
	// not exist, unless SkipCreateSequence is set. Default
	// "turbo_lock_fence".
	Sequence string
	// SkipCreateSequence leaves the sequence to the application's migrations
	// (the database user then needs no CREATE right, only USAGE on it).
	SkipCreateSequence bool
	// MaxConns bounds the connections the provider opens for itself: one per
	// held lock and one per key its callers wait for (the head of the key's
	// queue). When all are in use, TryAcquire waits for one within its
	// timeout and then reports locking.ErrUnavailable wrapping
	// [ErrConnectionLimit]. They never come from the application's pool.
	// Default 32.
	MaxConns int32
	// DialTimeout bounds connecting to PostgreSQL, the check with which Build
	// fails on an unreachable server, and a single try (timeout 0). Default
	// 5s.
	DialTimeout time.Duration
	// ReleaseTimeout bounds a Release, which runs on a context that the
	// caller's cancellation does not reach. Default 5s.
	ReleaseTimeout time.Duration
	// KeepAlive paces the TCP keepalives of the provider's sessions, for a
	// network path that goes silent while a lock is held (whole seconds:
	// both kernels count in them). The server probes after KeepAlive/2 of
	// silence, then every KeepAlive, and ends the session (letting the lock
	// go) after 3 unanswered probes — between 3×KeepAlive and
	// 3.5×KeepAlive after the path went silent, the phase of the probes
	// deciding (its TCP user timeout, 3.5×KeepAlive, ends a session with
	// unacknowledged data, which does not probe). The provider probes after KeepAlive/2, then every
	// KeepAlive/4 (rounded up to seconds), 3 probes, so Lost closes within
	// about 1.25×KeepAlive (4s at 2s, 14s at 10s): always at least 2s
	// before the server could grant the lock to someone else. Negative
	// leaves both sides at their system defaults (often two hours on the
	// server). At least 2s. Default 10s.
	KeepAlive time.Duration
	// Instance names this process in the holder record of every lock it
	// takes (see [Provider.Inspect]). Default locking.DefaultInstance(),
	// "host:pid".
	Instance string
}

// ErrInvalidOptions is wrapped by the error of invalid [Options] (a bad
// sequence name, a negative timeout, ...): the constructors return it and
// the registrations fail Build with it.
var ErrInvalidOptions = errors.New("postgres: invalid options")

// ErrConnectionLimit is wrapped (with locking.ErrUnavailable) by the error of
// a TryAcquire that found every one of the provider's Options.MaxConns
// connections in use for its whole timeout.
var ErrConnectionLimit = errors.New("postgres: every connection of the lock provider is in use")

// settings are Options with defaults applied and checked.
type settings struct {
	keyPrefix      string
	sequence       string
	createSequence bool
	maxConns       int32
	dialTimeout    time.Duration
	releaseTimeout time.Duration
	keepAlive      time.Duration // <= 0: system defaults
	instance       string
}

// sequenceName accepts an identifier or schema.identifier of plain
// lower-case letters, digits and underscores: it is put into SQL text.
var sequenceName = regexp.MustCompile(`^[a-z_][a-z0-9_]*(\.[a-z_][a-z0-9_]*)?$`)

func (o *Options) settings() (settings, error) {
	var in Options
	if o != nil {
		in = *o
	}
	s := settings{
		keyPrefix:      in.KeyPrefix,
		sequence:       in.Sequence,
		createSequence: !in.SkipCreateSequence,
		maxConns:       in.MaxConns,
		dialTimeout:    in.DialTimeout,
		releaseTimeout: in.ReleaseTimeout,
		keepAlive:      in.KeepAlive,
		instance:       in.Instance,
	}
	if s.keyPrefix == "" {
		s.keyPrefix = DefaultKeyPrefix
	}
	if s.sequence == "" {
		s.sequence = DefaultSequence
	}
	if !sequenceName.MatchString(s.sequence) {
		return s, fmt.Errorf("%w: Sequence %q is not a lower-case identifier (or schema.identifier)", ErrInvalidOptions, s.sequence)
	}
	if s.maxConns == 0 {
		s.maxConns = DefaultMaxConns
	}
	if s.maxConns < 1 {
		return s, fmt.Errorf("%w: MaxConns %d is below 1", ErrInvalidOptions, s.maxConns)
	}
	if s.dialTimeout == 0 {
		s.dialTimeout = DefaultDialTimeout
	}
	if s.releaseTimeout == 0 {
		s.releaseTimeout = DefaultReleaseTimeout
	}
	if s.instance == "" {
		s.instance = locking.DefaultInstance()
	}
	if s.keepAlive == 0 {
		s.keepAlive = DefaultKeepAlive
	}
	if s.keepAlive > 0 && s.keepAlive < 2*time.Second {
		return s, fmt.Errorf("%w: KeepAlive %s is below 2s (the server counts in seconds)", ErrInvalidOptions, s.keepAlive)
	}
	if s.dialTimeout < 0 || s.releaseTimeout < 0 {
		return s, fmt.Errorf("%w: negative DialTimeout or ReleaseTimeout", ErrInvalidOptions)
	}
	return s, nil
}
