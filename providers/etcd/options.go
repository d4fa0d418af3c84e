package etcd

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/turbomediator/turbomediator-go/behaviors/locking"
)

// Default values of [Options]; a zero field takes its default.
const (
	// DefaultKeyPrefix is put before every lock key the provider stores.
	DefaultKeyPrefix = "turbo/locks/"
	// DefaultTTL is the session lease: a process that stops renewing it
	// (crashed, paused, cut off) loses its locks this long after the last
	// renewal etcd saw.
	DefaultTTL = 15 * time.Second
	// DefaultDialTimeout bounds connecting, the Build-time check that etcd
	// answers, and a single try (TryAcquire with timeout 0).
	DefaultDialTimeout = 5 * time.Second
	// DefaultRequestTimeout bounds one request to etcd (granting the
	// session lease, creating or deleting a lock key).
	DefaultRequestTimeout = 5 * time.Second
	// DefaultReleaseTimeout bounds a Release.
	DefaultReleaseTimeout = 5 * time.Second
)

// Options configure the etcd provider. The zero value (and a nil *Options)
// means every default.
type Options struct {
	// Endpoints are the etcd client URLs ("http://127.0.0.1:2379" or
	// "127.0.0.1:2379"), for the registrations that create their own client.
	// [New] and [WithEtcdDistributedLockingFromDI] ignore them.
	Endpoints []string
	// KeyPrefix is put before every key the provider stores; providers with
	// the same prefix on the same cluster contend, different prefixes are
	// separate namespaces. Default "turbo/locks/".
	KeyPrefix string
	// TTL is the session lease, in whole seconds (etcd's unit; at least 1s).
	// The provider keeps it alive while it is open; a process that stops
	// (crash, SIGSTOP, network cut) loses every lock it holds within TTL of
	// its last renewal, and its own handles report Lost by then too.
	// Default 15s.
	TTL time.Duration
	// DialTimeout bounds connecting (for a client the provider creates),
	// the Build-time check and a single try (TryAcquire with timeout 0).
	// Default 5s.
	DialTimeout time.Duration
	// RequestTimeout bounds each request of an acquisition; an etcd that
	// does not answer in time (no quorum, say) is reported unavailable.
	// Default 5s.
	RequestTimeout time.Duration
	// ReleaseTimeout bounds a Release, which runs on a context that the
	// caller's cancellation does not reach. Default 5s.
	ReleaseTimeout time.Duration
	// Instance names this process in the holder identity stored with each
	// lock (see [Provider.Inspect]). Default locking.DefaultInstance(),
	// "host:pid".
	Instance string
}

// ErrInvalidOptions is wrapped by the error of an invalid [Options]: New
// returns it, and the registrations fail Build with it.
var ErrInvalidOptions = errors.New("etcd: invalid options")

// settings are Options with defaults applied and checked.
type settings struct {
	keyPrefix      string
	ttlSeconds     int64
	dialTimeout    time.Duration
	requestTimeout time.Duration
	releaseTimeout time.Duration
	instance       string
}

func (o *Options) settings() (settings, error) {
	var in Options
	if o != nil {
		in = *o
	}
	s := settings{
		keyPrefix:      in.KeyPrefix,
		dialTimeout:    orDefault(in.DialTimeout, DefaultDialTimeout),
		requestTimeout: orDefault(in.RequestTimeout, DefaultRequestTimeout),
		releaseTimeout: orDefault(in.ReleaseTimeout, DefaultReleaseTimeout),
		instance:       in.Instance,
	}
	if s.instance == "" {
		s.instance = locking.DefaultInstance()
	}
	if s.keyPrefix == "" {
		s.keyPrefix = DefaultKeyPrefix
	}
	if !strings.HasSuffix(s.keyPrefix, "/") {
		s.keyPrefix += "/"
	}
	ttl := orDefault(in.TTL, DefaultTTL)
	if ttl < time.Second || ttl%time.Second != 0 {
		return s, fmt.Errorf("%w: TTL %s is not a whole number of seconds, at least 1s", ErrInvalidOptions, ttl)
	}
	s.ttlSeconds = int64(ttl / time.Second)
	if s.dialTimeout < 0 || s.requestTimeout < 0 || s.releaseTimeout < 0 {
		return s, fmt.Errorf("%w: negative DialTimeout, RequestTimeout or ReleaseTimeout", ErrInvalidOptions)
	}
	return s, nil
}

func orDefault(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}
